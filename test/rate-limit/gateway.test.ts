import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';

import { defaultRateLimits } from '../../src/config/load.js';
import { createUser } from '../support/accounts.js';
import { REDIS_URL, writeConfigFile } from '../support/config-file.js';
import { PKCE_CHALLENGE, callApi, obtainTokens, openSignInPage } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { UserAgent, formEndingWith } from '../support/user-agent.js';

const JSON_HEADERS = { 'content-type': 'application/json' };

async function startWithLimits(rateLimit: Record<string, unknown>): Promise<TestServer> {
  const config = await writeConfigFile({ rateLimit: { ...defaultRateLimits(), ...rateLimit } });
  return startTestServer({ config });
}

function placeOrder(server: TestServer, token: string): Promise<Response> {
  return callApi(server, '/orders', token, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ item: 'x', quantity: 1 }) });
}

function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/**
 * Starts a server whose rate-limit store is Redis behind `proxy`, with a
 * global limit that fails open, and `rateLimit` on top.
 */
async function startOnProxiedRedis(proxy: TcpProxy, rateLimit: Record<string, unknown>): Promise<TestServer> {
  return startWithLimits({
    store: 'redis',
    redisUrl: `redis://127.0.0.1:${proxy.port}`,
    // Long enough for a reply through the proxy on a loaded machine, short
    // enough that the tests of a stalled Redis wait it out quickly.
    storeTimeoutMs: 1000,
    global: { name: uniqueName('open'), key: ['ip'], limit: 1000, period: '1h', onStoreFailure: 'open' },
    // Other suites on this machine record failed sign-ins from 127.0.0.1 in the same Redis.
    login: { ...defaultRateLimits().login, accountTotalThreshold: 100_000, addressThreshold: 100_000 },
    ...rateLimit,
  });
}

/** Sends a GET whose request line names `path` on `server` as an absolute URI. */
async function requestAbsoluteForm(server: TestServer, path: string): Promise<{ status: number }> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest({ host: hostname, port, path: `${server.url}${path}` }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0 }));
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

describe('gateway rate limits', () => {
  const servers: TestServer[] = [];

  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });

  it('enforces the order quota with a clear 429', async () => {
    const server = await startWithLimits({});
    servers.push(server);
    const { tokens } = await obtainTokens(server, await createUser(server, 'quota_user'));

    for (let i = 0; i < 5; i += 1) {
      const response = await placeOrder(server, tokens.access_token);
      expect(response.status).toBe(201);
      expect(response.headers.get('ratelimit-policy')).toContain('"order-creation";q=5;w=3600');
      expect(response.headers.get('ratelimit')).toContain(`"order-creation";r=${4 - i};`);
    }

    const refused = await placeOrder(server, tokens.access_token);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(600);
    const problem = (await refused.json()) as { code: string; detail: string };
    expect(problem.code).toBe('quota_exceeded');
    expect(problem.detail).toContain("'order-creation' (5 per hour per user)");

    // Reading is not part of the quota.
    expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(200);
  });

  it('groups IPv6 clients of a trusted proxy by /64', async () => {
    const server = await startWithLimits({
      trustedProxies: ['127.0.0.1'],
      global: { name: uniqueName('global'), key: ['ip'], limit: 2, period: '1h', onStoreFailure: 'open' },
    });
    servers.push(server);

    const status = async (forwarded: string) => (await fetch(`${server.url}/`, { headers: { 'x-forwarded-for': forwarded } })).status;
    expect(await status('2001:db8::1')).toBe(200);
    expect(await status('2001:db8::2')).toBe(200);
    expect(await status('2001:db8::ffff')).toBe(429);
    expect(await status('2001:db8:0:1::1')).toBe(200);
    // The right-most untrusted address counts, not what the client put first.
    expect(await status('203.0.113.9, 2001:db8::3')).toBe(429);
    expect(await status('2001:db8::3, 203.0.113.9')).toBe(200);
  });

  it('throttles failed sign-ins the same for unknown accounts', async () => {
    const server = await startWithLimits({
      login: { accountThreshold: 3, accountTotalThreshold: 50, addressThreshold: 100, window: '15m', baseDelay: '30s', maxDelay: '15m' },
    });
    servers.push(server);
    const user = await createUser(server, 'brute_target');

    async function attempt(username: string, password: string): Promise<{ status: number; html: string; retryAfter: string | null }> {
      const { agent, html } = await openSignInPage(server);
      const { response } = await agent.submit(formEndingWith(html, '/login'), { username, password });
      return { status: response.status, html: await response.text(), retryAfter: response.headers.get('retry-after') };
    }

    for (const username of ['brute_target', 'no_such_account']) {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i += 1) {
        statuses.push((await attempt(username, 'Wrong-Passw0rd-1')).status);
      }
      expect(statuses).toEqual([401, 401, 401]);

      const throttled = await attempt(username, username === 'brute_target' ? user.password : 'Wrong-Passw0rd-1');
      expect(throttled.status).toBe(429);
      expect(Number(throttled.retryAfter)).toBeGreaterThan(20);
      expect(throttled.html).toContain('Too many failed sign-ins.');
    }
  });

  it('keeps a stranger from locking out a user', async () => {
    const server = await startWithLimits({
      trustedProxies: ['127.0.0.1'],
      login: { accountThreshold: 3, accountTotalThreshold: 50, addressThreshold: 100, window: '15m', baseDelay: '30s', maxDelay: '15m' },
    });
    servers.push(server);
    const victim = await createUser(server, 'victim');

    const attempt = async (address: string, password: string) => {
      const { agent, html } = await openSignInPage(server, 'openid orders:read', { 'x-forwarded-for': address });
      const { response } = await agent.submit(formEndingWith(html, '/login'), { username: 'victim', password });
      const page = await response.text();
      return page.includes('/confirm"') ? 'consent' : response.status;
    };

    for (let i = 0; i < 4; i += 1) {
      await attempt('198.51.100.66', 'Wrong-Passw0rd-1');
    }
    expect(await attempt('198.51.100.66', victim.password)).toBe(429);
    expect(await attempt('203.0.113.7', victim.password)).toBe('consent');
  });

  it('limits registrations per address', async () => {
    const server = await startWithLimits({ registration: { name: 'registration', key: ['ip'], limit: 2, period: '1h', onStoreFailure: 'closed' } });
    servers.push(server);

    const statuses: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      const agent = new UserAgent(server.url);
      const form = formEndingWith(await (await agent.fetch('/register')).text(), '/register');
      const { response } = await agent.submit(form, { username: `joiner_${i}`, email: `joiner${i}@example.com`, password: 'Sturdy-Passw0rd' });
      statuses.push(response.status);
    }
    expect(statuses).toEqual([201, 201, 429]);
    const accounts = await server.running.db.selectFrom('accounts').select('username').execute();
    expect(accounts.map((account) => account.username)).not.toContain('joiner_2');
  });

  it('rejects oversized authorization requests', async () => {
    const server = await startWithLimits({});
    servers.push(server);
    const before = await server.running.db.selectFrom('oidc_payloads').select('id').execute();

    const response = await fetch(`${server.url}/oauth/authorize?client_id=${server.demoClientId}&state=${'s'.repeat(5000)}`, { redirect: 'manual' });
    expect(response.status).toBe(414);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    const after = await server.running.db.selectFrom('oidc_payloads').select('id').execute();
    expect(after.length).toBe(before.length);
  });

  /** Pushes an authorization request (RFC 9126) for the demo client with `state`. */
  function pushAuthorizationRequest(server: TestServer, state: string): Promise<Response> {
    return fetch(`${server.url}/oauth/par`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: server.demoClientId,
        response_type: 'code',
        redirect_uri: server.demoRedirectUri,
        scope: 'openid',
        code_challenge: PKCE_CHALLENGE,
        code_challenge_method: 'S256',
        state,
      }),
    });
  }

  it('rejects oversized pushed authorization requests', async () => {
    const server = await startWithLimits({});
    servers.push(server);
    const storedRequests = async () => (await server.running.db.selectFrom('oidc_payloads').select('id').execute()).length;
    const before = await storedRequests();

    const oversized = await pushAuthorizationRequest(server, 's'.repeat(5000));

    expect(oversized.status).toBe(413);
    expect(oversized.headers.get('content-type')).toContain('application/problem+json');
    expect(((await oversized.json()) as { detail: string }).detail).toContain('at most 4096 bytes');
    expect(await storedRequests()).toBe(before);
    expect((await pushAuthorizationRequest(server, 's'.repeat(100))).status).toBe(201);
  });

  it('counts pushed requests against the sign-in limit', async () => {
    const server = await startWithLimits({ signIn: { name: 'sign-in', key: ['ip'], limit: 3, period: '1h', onStoreFailure: 'closed' } });
    servers.push(server);

    const statuses: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      statuses.push((await pushAuthorizationRequest(server, `state-${i}`)).status);
    }

    expect(statuses).toEqual([201, 201, 201, 429]);
  });

  it('applies OAuth limits to absolute-form targets', async () => {
    const server = await startWithLimits({ signIn: { name: 'sign-in', key: ['ip'], limit: 2, period: '1h', onStoreFailure: 'closed' } });
    servers.push(server);
    const before = await server.running.db.selectFrom('oidc_payloads').select('id').execute();

    // RFC 9112 lets a request name its target as an absolute URI, which a browser's fetch never sends.
    const oversized = await requestAbsoluteForm(server, `/oauth/authorize?client_id=${server.demoClientId}&state=${'s'.repeat(5000)}`);
    expect(oversized.status).toBe(414);
    const after = await server.running.db.selectFrom('oidc_payloads').select('id').execute();
    expect(after.length).toBe(before.length);

    const statuses: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      statuses.push((await requestAbsoluteForm(server, `/oauth/authorize?client_id=${server.demoClientId}`)).status);
    }
    expect(statuses[2]).toBe(429);
  });

  it('limits sign-in requests per address', async () => {
    const server = await startWithLimits({ signIn: { name: 'sign-in', key: ['ip'], limit: 3, period: '1h', onStoreFailure: 'closed' } });
    servers.push(server);

    const statuses: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      statuses.push((await fetch(`${server.url}/oauth/authorize?client_id=${server.demoClientId}`, { redirect: 'manual' })).status);
    }
    expect(statuses.slice(0, 3).every((status) => status !== 429)).toBe(true);
    expect(statuses[3]).toBe(429);
    // The token endpoint is not part of the sign-in limit.
    expect((await fetch(`${server.url}/.well-known/openid-configuration`)).status).toBe(200);
  });

  it('closes registration when configured', async () => {
    const config = await writeConfigFile({ registration: { enabled: false } });
    const server = await startTestServer({ config });
    servers.push(server);

    expect((await fetch(`${server.url}/register`)).status).toBe(404);
    const { html } = await openSignInPage(server);
    expect(html).not.toContain('/register');
  });

  it('resets the account counter after a successful sign-in', async () => {
    const server = await startWithLimits({
      login: { accountThreshold: 3, accountTotalThreshold: 50, addressThreshold: 100, window: '15m', baseDelay: '30s', maxDelay: '15m' },
    });
    servers.push(server);
    const user = await createUser(server, 'forgetful');

    // A successful sign-in lands on the consent page.
    const attempt = async (password: string) => {
      const { agent, html } = await openSignInPage(server);
      const { response } = await agent.submit(formEndingWith(html, '/login'), { username: 'forgetful', password });
      const page = await response.text();
      return page.includes('/confirm"') ? 'consent' : response.status;
    };

    expect(await attempt('Wrong-Passw0rd-1')).toBe(401);
    expect(await attempt('Wrong-Passw0rd-1')).toBe(401);
    expect(await attempt(user.password)).toBe('consent');
    expect(await attempt('Wrong-Passw0rd-1')).toBe(401);
    expect(await attempt('Wrong-Passw0rd-1')).toBe(401);
    expect(await attempt(user.password)).toBe('consent');
  });
});

describe('Redis outage', () => {
  const proxy = new TcpProxy(Number(new URL(REDIS_URL).port || 6379));
  let server: TestServer;

  afterAll(async () => {
    await server?.close();
    await proxy.stop().catch(() => undefined);
  });

  it('applies each failure mode and recovers', async () => {
    await proxy.start();
    server = await startOnProxiedRedis(proxy, {
      flows: [{ name: uniqueName('orders'), method: 'POST', path: '/orders', key: ['sub'], limit: 100, period: '1h', onStoreFailure: 'closed' }],
    });
    const { tokens } = await obtainTokens(server, await createUser(server, 'outage_user'));
    const place = () => placeOrder(server, tokens.access_token);

    expect((await place()).status).toBe(201);

    await proxy.stop();
    const duringOutage = await Promise.all(Array.from({ length: 20 }, () => place()));
    for (const response of duringOutage) {
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('1');
    }
    // The global limit fails open: reads still work.
    expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(200);
    const warnings = server.logs.filter((line) => line.includes('rate-limit store failed'));
    expect(warnings.length).toBe(1);

    await proxy.start(proxy.port);
    const deadline = Date.now() + 10_000;
    let status = 0;
    while (Date.now() < deadline) {
      status = (await place()).status;
      if (status === 201) {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(status).toBe(201);
  });
});

describe('Redis outage under load', () => {
  const proxy = new TcpProxy(Number(new URL(REDIS_URL).port || 6379));
  let server: TestServer;

  afterAll(async () => {
    await server?.close();
    await proxy.stop().catch(() => undefined);
  });

  it('logs one warning, not each request', async () => {
    await proxy.start();
    server = await startOnProxiedRedis(proxy, {
      global: { name: uniqueName('closed'), key: ['ip'], limit: 1000, period: '1h', onStoreFailure: 'closed' },
    });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);

    await proxy.stop();
    const duringOutage = await Promise.all(Array.from({ length: 20 }, () => fetch(`${server.url}/healthz`)));
    for (const response of duringOutage) {
      expect(response.status).toBe(503);
    }

    const errorLines = server.logs.filter((line) => (JSON.parse(line) as { level: number }).level >= 50);
    expect(errorLines).toEqual([]);
    const warnings = server.logs.filter((line) => line.includes('rate-limit store failed'));
    expect(warnings).toHaveLength(1);
    const completed = server.logs.filter((line) => line.includes('"statusCode":503') && line.includes('request completed'));
    expect(completed).toHaveLength(20);
  });

  it('logs no error on other pages', async () => {
    // Runs during the outage of the test above, with the same server.
    const before = server.logs.length;
    const paths = ['/interaction/some-uid', '/register', '/oauth/authorize', '/.well-known/openid-configuration'];
    const duringOutage = await Promise.all(paths.map((path) => fetch(`${server.url}${path}`)));
    const tokenRequest = await fetch(`${server.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=authorization_code&client_id=${server.demoClientId}&code=x`,
    });
    for (const response of [...duringOutage, tokenRequest]) {
      expect(response.status).toBe(503);
    }

    const errorLines = server.logs.slice(before).filter((line) => (JSON.parse(line) as { level: number }).level >= 50);
    expect(errorLines).toEqual([]);
  });
});

describe('Redis outage at sign-in', () => {
  const proxy = new TcpProxy(Number(new URL(REDIS_URL).port || 6379));
  let server: TestServer;

  afterAll(async () => {
    await server?.close();
    await proxy.stop().catch(() => undefined);
  });

  it('pauses sign-in with Retry-After', async () => {
    await proxy.start();
    server = await startOnProxiedRedis(proxy, {
      // With the sign-in limit open, the request reaches the login throttle, which needs its counters.
      signIn: { name: uniqueName('sign-in'), key: ['ip'], limit: 1000, period: '1h', onStoreFailure: 'open' },
    });
    const user = await createUser(server, 'outage_signin');
    const { agent, html } = await openSignInPage(server);

    await proxy.stop();
    const { response } = await agent.submit(formEndingWith(html, '/login'), { username: user.username, password: user.password });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
    expect(await response.text()).toContain('Sign-in is temporarily unavailable.');
  });

  it('logs one warning, not each request', async () => {
    // Runs during the outage of the test above, with the same server.
    const user = await createUser(server, 'outage_throttles');
    const pages = await Promise.all(Array.from({ length: 5 }, () => openSignInPage(server)));
    const before = server.logs.length;

    const tokenRequests = await Promise.all(
      Array.from({ length: 10 }, () =>
        fetch(`${server.url}/oauth/token`, {
          method: 'POST',
          headers: {
            authorization: `Basic ${Buffer.from('some-client:some-secret').toString('base64')}`,
            'content-type': 'application/x-www-form-urlencoded',
          },
          body: 'grant_type=client_credentials',
        }),
      ),
    );
    const signIns = await Promise.all(
      pages.map(async ({ agent, html }) => (await agent.submit(formEndingWith(html, '/login'), { username: user.username, password: user.password })).response),
    );

    for (const response of [...tokenRequests, ...signIns]) {
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('5');
    }
    const errorLines = server.logs.slice(before).filter((line) => (JSON.parse(line) as { level: number }).level >= 50);
    expect(errorLines).toEqual([]);
    const warnings = server.logs.filter((line) => line.includes('throttle store failed'));
    expect(warnings).toHaveLength(1);
  });
});

describe('stalled Redis', () => {
  const proxy = new TcpProxy(Number(new URL(REDIS_URL).port || 6379));
  let server: TestServer;

  afterAll(async () => {
    await server?.close();
    await proxy.stop().catch(() => undefined);
  });

  it('charges nothing for rejected requests', async () => {
    await proxy.start();
    server = await startOnProxiedRedis(proxy, {
      flows: [{ name: uniqueName('orders'), method: 'POST', path: '/orders', key: ['sub'], limit: 2, period: '1h', onStoreFailure: 'closed' }],
    });
    const { tokens } = await obtainTokens(server, await createUser(server, 'stall_user'));
    const place = () => placeOrder(server, tokens.access_token);

    // Each store call resolves once its reply is in, after any refund went
    // out, so awaiting them all puts the refunds ahead of the next request.
    const store = server.running.rateLimiting.limiter.store;
    const storeCalls = vi.spyOn(store, 'consume');
    proxy.hold();
    const rejected = await Promise.all([place(), place()]);
    expect(rejected.map((response) => response.status)).toEqual([503, 503]);
    proxy.release();
    await Promise.allSettled(storeCalls.mock.results.map((result) => result.value as Promise<unknown>));
    storeCalls.mockRestore();

    const statuses: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      statuses.push((await place()).status);
    }
    expect(statuses).toEqual([201, 201, 429]);
  });
});
