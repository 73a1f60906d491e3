import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { defaultRateLimits } from '../../src/config/load.js';
import { createUser } from '../support/accounts.js';
import { REDIS_URL, writeConfigFile } from '../support/config-file.js';
import { authorizationUrl, callApi, obtainTokens, openSignInPage } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { formEndingWith } from '../support/user-agent.js';

/**
 * Attacks on rate limits: spoofed client addresses, path spellings that
 * open a second counter, and bursts that race the counter.
 */

const JSON_HEADERS = { 'content-type': 'application/json' };

const servers: TestServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function startWithLimits(rateLimit: Record<string, unknown>): Promise<TestServer> {
  const config = await writeConfigFile({ rateLimit: { ...defaultRateLimits(), ...rateLimit } });
  const server = await startTestServer({ config });
  servers.push(server);
  return server;
}

function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** Submits one sign-in with a wrong password from a fresh browser that sends `headers` on every request. */
async function failedSignIn(server: TestServer, username: string, headers: Record<string, string> = {}): Promise<Response> {
  const { agent, html } = await openSignInPage(server, 'openid orders:read', headers);
  const { response } = await agent.submit(formEndingWith(html, '/login'), { username, password: 'Wrong-Passw0rd-1' });
  return response;
}

/** Failed sign-in limits that only the per-username-and-address count can reach within these tests. */
const LOGIN_LIMITS = { accountThreshold: 5, accountTotalThreshold: 1000, addressThreshold: 1000, window: '15m', baseDelay: '30s', maxDelay: '15m' };

describe('limit keyed on a spoofable X-Forwarded-For', () => {
  it('ignores X-Forwarded-For from untrusted peers', async () => {
    const server = await startWithLimits({ global: { name: uniqueName('global'), key: ['ip'], limit: 3, period: '1h', onStoreFailure: 'open' } });

    const statuses: number[] = [];
    for (const forwarded of ['198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.4']) {
      statuses.push((await fetch(`${server.url}/`, { headers: { 'x-forwarded-for': forwarded } })).status);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  it('throttles sign-ins from one peer whatever address it claims', async () => {
    const server = await startWithLimits({ login: LOGIN_LIMITS });
    await createUser(server, 'xff_target');

    const statuses: number[] = [];
    for (let i = 1; i <= 8; i += 1) {
      const response = await failedSignIn(server, 'xff_target', { 'x-forwarded-for': `203.0.113.${i}` });
      statuses.push(response.status);
      if (response.status === 429) {
        expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
      }
    }

    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
  });

  it('keys on the right-most untrusted hop behind a trusted proxy', async () => {
    const server = await startWithLimits({ trustedProxies: ['127.0.0.1'], login: LOGIN_LIMITS });
    await createUser(server, 'chain_target');

    const statuses: number[] = [];
    for (let i = 1; i <= 7; i += 1) {
      // The client forged the left part; the proxy appended the real peer.
      statuses.push((await failedSignIn(server, 'chain_target', { 'x-forwarded-for': `203.0.113.${i}, 198.51.100.7` })).status);
    }

    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
  });

  it('skips every trusted hop of a proxy chain', async () => {
    const server = await startWithLimits({ trustedProxies: ['127.0.0.1', '10.0.0.0/8'], login: LOGIN_LIMITS });
    await createUser(server, 'two_hops');

    const statuses: number[] = [];
    for (let i = 1; i <= 7; i += 1) {
      // The first trusted proxy appended the client, the second one the first proxy.
      statuses.push((await failedSignIn(server, 'two_hops', { 'x-forwarded-for': `203.0.113.${i}, 198.51.100.7, 10.0.0.2` })).status);
    }
    const otherClient = await failedSignIn(server, 'two_hops', { 'x-forwarded-for': '203.0.113.1, 198.51.100.8, 10.0.0.2' });

    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
    expect(otherClient.status).toBe(401);
  });
});

describe('path spellings that would open a second counter', () => {
  it('limits per route template, not per raw path', async () => {
    const server = await startWithLimits({
      routes: [{ method: 'GET', path: '/orders/:id', limits: [{ name: 'reads', key: ['sub'], limit: 3, period: '1h', onStoreFailure: 'open' }] }],
    });
    const { tokens } = await obtainTokens(server, await createUser(server, 'path_user'));

    const statuses: number[] = [];
    for (const path of ['/orders/a', '/orders/B', '/orders/%61', '/orders/c']) {
      statuses.push((await callApi(server, path, tokens.access_token)).status);
    }
    expect(statuses).toEqual([404, 404, 404, 429]);
  });

  it('takes the OpenAPI template as a target', async () => {
    const server = await startWithLimits({
      routes: [{ method: 'GET', path: '/orders/{id}', limits: [{ name: 'reads', key: ['sub'], limit: 2, period: '1h', onStoreFailure: 'open' }] }],
    });
    const { tokens } = await obtainTokens(server, await createUser(server, 'template_user'));

    const statuses: number[] = [];
    for (const path of ['/orders/a', '/orders/b', '/orders/c']) {
      statuses.push((await callApi(server, path, tokens.access_token)).status);
    }
    expect(statuses).toEqual([404, 404, 429]);
  });

  it('lets no spelling of the order route past the quota', async () => {
    const server = await startWithLimits({});
    const { tokens } = await obtainTokens(server, await createUser(server, 'spelling_user'));
    const order = JSON.stringify({ item: 'x', quantity: 1 });

    const created: string[] = [];
    for (const path of ['/orders', '/orders/', '/ORDERS', '/Orders', '/orders?x=1', '/orders//', '/orders', '/orders/', '/orders?x=1', '/orders', '/orders', '/orders', '/orders']) {
      const response = await callApi(server, path, tokens.access_token, { method: 'POST', headers: JSON_HEADERS, body: order });
      if (response.status === 201) {
        created.push(path);
      } else {
        expect([400, 404, 405, 429], path).toContain(response.status);
      }
    }

    expect(created).toEqual(['/orders', '/orders', '/orders', '/orders', '/orders']);
  });

  it('counts every spelling of the authorization endpoint', async () => {
    const server = await startWithLimits({ signIn: { name: uniqueName('sign-in'), key: ['ip'], limit: 3, period: '1h', onStoreFailure: 'closed' } });
    const storedRequests = async () => (await server.running.db.selectFrom('oidc_payloads').select('id').execute()).length;

    // oidc-provider's router ignores the case of the path and one trailing slash.
    const statuses: number[] = [];
    for (const path of ['/oauth/authorize', '/oauth/Authorize', '/oauth/AUTHORIZE/', '/oauth/authorize/', '/oauth/AUTHORIZE', '/oauth/Authorize/']) {
      const url = new URL(authorizationUrl(server, {}));
      url.pathname = path;
      statuses.push((await fetch(url, { redirect: 'manual' })).status);
    }
    const storedAfterLimit = await storedRequests();
    const overLimit = await fetch(authorizationUrl(server, {}).replace('/oauth/authorize', '/oauth/AuThOrIzE'), { redirect: 'manual' });

    expect(statuses).toEqual([303, 303, 303, 429, 429, 429]);
    expect(overLimit.status).toBe(429);
    expect(await storedRequests()).toBe(storedAfterLimit);
  });

  it('routes sign-in strictly, so variants never reach the handler', async () => {
    const server = await startWithLimits({ login: LOGIN_LIMITS });
    const { agent, html } = await openSignInPage(server);
    const form = formEndingWith(html, '/login');
    const variants = [`${form.action}/`, form.action.toUpperCase(), form.action.replace('/interaction/', '/Interaction/')];

    for (const action of variants) {
      const { response } = await agent.submit({ ...form, action }, { username: 'nobody', password: 'Wrong-Passw0rd-1' });
      expect(response.status, action).toBe(404);
    }
    expect(server.logs.filter((line) => line.includes('login failed'))).toEqual([]);
  });

  it('counts query-string sign-ins too', async () => {
    const server = await startWithLimits({ login: LOGIN_LIMITS });
    await createUser(server, 'query_target');
    const { agent, html } = await openSignInPage(server);
    const form = formEndingWith(html, '/login');

    const statuses: number[] = [];
    for (const action of [form.action, form.action, form.action, `${form.action}?x=1`, `${form.action}?x=1`, `${form.action}?x=1`]) {
      const { response } = await agent.submit({ ...form, action }, { username: 'query_target', password: 'Wrong-Passw0rd-1' });
      statuses.push(response.status);
    }

    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
  });
});

describe('parallel requests racing the counter', () => {
  it('admits exactly the order quota from a burst of 100', async () => {
    const server = await startWithLimits({ global: { name: uniqueName('global'), key: ['ip'], limit: 10_000, period: '1s', onStoreFailure: 'open' } });
    const { tokens } = await obtainTokens(server, await createUser(server, 'burst_user'));
    const order = JSON.stringify({ item: 'x', quantity: 1 });

    const statuses = await Promise.all(
      Array.from({ length: 100 }, async () => (await callApi(server, '/orders', tokens.access_token, { method: 'POST', headers: JSON_HEADERS, body: order })).status),
    );

    expect(statuses.filter((status) => status === 201)).toHaveLength(5);
    expect(statuses.filter((status) => status === 429)).toHaveLength(95);
  });

  it('counts parallel sign-ins before checking them', async () => {
    const server = await startWithLimits({
      login: { accountThreshold: 5, accountTotalThreshold: 50, addressThreshold: 100, window: '15m', baseDelay: '30s', maxDelay: '15m' },
    });
    await createUser(server, 'racer');

    const { agent, html } = await openSignInPage(server);
    const form = formEndingWith(html, '/login');
    const statuses = await Promise.all(
      Array.from({ length: 40 }, async () => (await agent.submit(form, { username: 'racer', password: 'Wrong-Passw0rd-1' })).response.status),
    );
    expect(statuses.filter((status) => status === 401).length).toBeLessThanOrEqual(5);
    expect(statuses.filter((status) => status === 429).length).toBeGreaterThanOrEqual(35);
  });
});

describe('parallel requests racing a shared counter', () => {
  const shared: TestServer[] = [];

  afterAll(async () => {
    await Promise.all(shared.map((server) => server.close()));
  });

  async function startShared(rateLimit: Record<string, unknown>): Promise<TestServer> {
    const config = await writeConfigFile({ rateLimit: { ...defaultRateLimits(), ...rateLimit } });
    const server = await startTestServer({ config });
    shared.push(server);
    return server;
  }

  it('admits exactly the limit through three instances on Redis', async () => {
    const global = { name: uniqueName('exact'), key: ['ip'], limit: 100, period: '1h', onStoreFailure: 'closed' };
    const instances: TestServer[] = [];
    for (let i = 0; i < 3; i += 1) {
      instances.push(await startShared({ store: 'redis', redisUrl: REDIS_URL, global, storeTimeoutMs: 5000 }));
    }

    const responses = await Promise.all(
      Array.from({ length: 1000 }, (_unused, index) => fetch(`${instances[index % 3]!.url}/`).then((response) => response.status)),
    );
    expect(responses.filter((status) => status === 200)).toHaveLength(100);
    expect(responses.filter((status) => status === 429)).toHaveLength(900);
  });

  it('admits exactly the limit in one instance in memory', async () => {
    const server = await startShared({ global: { name: 'exact', key: ['ip'], limit: 100, period: '1h', onStoreFailure: 'closed' } });

    const responses = await Promise.all(Array.from({ length: 1000 }, () => fetch(`${server.url}/`).then((response) => response.status)));
    expect(responses.filter((status) => status === 200)).toHaveLength(100);
  });
});
