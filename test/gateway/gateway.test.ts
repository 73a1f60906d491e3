import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { callApi, obtainTokens } from '../support/oauth.js';
import { writeConfigFile } from '../support/config-file.js';
import { rawRequest, type RawResponse } from '../support/raw-http.js';
import { startTestServer, type TestServer } from '../support/server.js';

const JSON_HEADERS = { 'content-type': 'application/json' };

describe('gateway in front of the demo API', () => {
  let server: TestServer;
  let aliceToken: string;
  let bobToken: string;

  beforeAll(async () => {
    server = await startTestServer({ corsOrigins: ['https://app.example.test'] });
    aliceToken = (await obtainTokens(server, await createUser(server, 'gw_alice'))).tokens.access_token;
    bobToken = (await obtainTokens(server, await createUser(server, 'gw_bob'))).tokens.access_token;
  });

  afterAll(async () => {
    await server.close();
  });

  async function createOrder(token: string): Promise<{ id: string }> {
    const response = await callApi(server, '/orders', token, {
      method: 'POST',
      headers: JSON_HEADERS,
      body: JSON.stringify({ item: 'rope', quantity: 1 }),
    });
    expect(response.status).toBe(201);
    return (await response.json()) as { id: string };
  }

  it("hides another user's order", async () => {
    const order = await createOrder(aliceToken);

    const read = await callApi(server, `/orders/${order.id}`, bobToken);
    expect(read.status).toBe(404);
    expect(read.headers.get('content-type')).toContain('application/problem+json');

    const removed = await callApi(server, `/orders/${order.id}`, bobToken, { method: 'DELETE' });
    expect(removed.status).toBe(404);

    const list = (await (await callApi(server, '/orders', bobToken)).json()) as { items: Array<{ id: string }> };
    expect(list.items.map((item) => item.id)).not.toContain(order.id);
    expect((await callApi(server, `/orders/${order.id}`, aliceToken)).status).toBe(200);
  });

  it('rejects unknown order properties', async () => {
    const response = await callApi(server, '/orders', aliceToken, {
      method: 'POST',
      headers: JSON_HEADERS,
      body: JSON.stringify({ item: 'rope', quantity: 1, owner: 'someone-else' }),
    });

    expect(response.status).toBe(400);
    const problem = (await response.json()) as { code: string; errors: Array<{ pointer: string }> };
    expect(problem.code).toBe('validation_failed');
    expect(problem.errors.map((error) => error.pointer)).toContain('/body/owner');
  });

  it('rejects the admin route without admin', async () => {
    const response = await callApi(server, '/admin/orders', aliceToken);
    expect(response.status).toBe(403);
    expect(response.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    expect(((await response.json()) as { code: string }).code).toBe('insufficient_scope');
  });

  it('answers undeclared operations with 404', async () => {
    for (const [method, path] of [
      ['GET', '/users'],
      ['PUT', '/orders'],
      ['GET', '/orders/x/y'],
      ['GET', '/ORDERS'],
      ['GET', '/orders/'],
      ['GET', '//orders'],
    ] as const) {
      const response = await callApi(server, path, aliceToken, { method });
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
    }
  });

  it('authenticates before revealing routes', async () => {
    expect((await callApi(server, '/no-such-route', undefined)).status).toBe(401);
  });

  it('rejects encoded path traversal in parameters', async () => {
    for (const id of ['..', '%2e%2e', '..%2Fadmin%2Forders', '%2F', '.']) {
      const response = await callApi(server, `/orders/${id}`, aliceToken);
      expect(response.status, id).toBe(404);
    }
  });

  it('answers bad bodies with problems', async () => {
    const malformed = await callApi(server, '/orders', aliceToken, { method: 'POST', headers: JSON_HEADERS, body: '{"item":' });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { code: string }).code).toBe('invalid_json');

    const wrongType = await callApi(server, '/orders', aliceToken, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'item=rope',
    });
    expect(wrongType.status).toBe(415);

    const oversized = await callApi(server, '/orders', aliceToken, {
      method: 'POST',
      headers: JSON_HEADERS,
      body: JSON.stringify({ item: 'x'.repeat(2 * 1024 * 1024), quantity: 1 }),
    });
    expect(oversized.status).toBe(413);
    expect(oversized.headers.get('content-type')).toContain('application/problem+json');

    const badLimit = await callApi(server, '/orders?limit=1000', aliceToken);
    expect(badLimit.status).toBe(400);
  });

  it('answers oversized headers with 431', async () => {
    const response = await fetch(`${server.url}/api/orders`, { headers: { 'x-padding': 'a'.repeat(20_000) } });
    expect(response.status).toBe(431);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
  });

  it('sets security headers on every response', async () => {
    for (const response of [
      await callApi(server, '/orders', aliceToken),
      await callApi(server, '/orders', undefined),
      await fetch(`${server.url}/nowhere`),
      await fetch(`${server.url}/.well-known/openid-configuration`),
    ]) {
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
      expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(response.headers.get('x-powered-by')).toBeNull();
      expect(response.headers.get('strict-transport-security')).toBeNull();
    }
  });

  it('answers malformed URLs with problems', async () => {
    for (const [path, status] of [
      ['/api/orders/%ff', 400],
      [`/api/orders/${'a'.repeat(200)}`, 414],
    ] as const) {
      const response = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${aliceToken}` } });
      expect(response.status, path).toBe(status);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('x-request-id')).toBeTruthy();
      expect(await response.text()).not.toContain('aaaaaaaaaa');
    }
  });

  it('builds discovery from the issuer, not Host', async () => {
    const { body } = await rawRequest(`${server.url}/.well-known/openid-configuration`, { headers: { host: 'evil.example:666' } });
    expect(body).not.toContain('evil.example');
    expect((JSON.parse(body) as { token_endpoint: string }).token_endpoint).toBe(`${server.issuer}/oauth/token`);
  });

  it('answers 500s without internals', async () => {
    const response = await fetch(`${server.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=authorization_code&code=x&redirect_uri=y&client_id=nobody',
    });
    const text = await response.text();
    expect(response.status).toBeLessThan(500);
    expect(text).not.toMatch(/at .*\.js:\d+|node_modules|\/src\//);
  });
});

describe('gateway identity headers', () => {
  let upstream: Server;
  let received: IncomingHttpHeaders[];
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    received = [];
    upstream = createServer((request, response) => {
      received.push(request.headers);
      response.setHeader('x-powered-by', 'Express');
      response.setHeader('server', 'upstream/1.2.3');
      response.setHeader('x-aspnet-version', '4.0.30319');
      response.setHeader('x-aspnetmvc-version', '5.2');
      response.setHeader('x-runtime', '0.012345');
      response.setHeader('access-control-allow-origin', '*');
      response.setHeader('set-cookie', '_session=planted; Path=/');
      response.setHeader('connection', 'keep-alive, x-upstream-hop');
      response.setHeader('x-upstream-hop', 'one connection only');
      response.setHeader('vary', 'Accept-Encoding');
      response.setHeader('content-type', 'application/json');
      response.end('{"items":[],"next_cursor":null}');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const port = (upstream.address() as AddressInfo).port;

    server = await startTestServer({ upstreamUrl: `http://127.0.0.1:${port}` });
    token = (await obtainTokens(server, await createUser(server, 'header_user'))).tokens.access_token;
  });

  afterAll(async () => {
    await server.close();
    await new Promise((resolve) => upstream.close(resolve));
  });

  it('replaces forged identity headers', async () => {
    const response = await callApi(server, '/orders', token, {
      headers: {
        'x-portcullis-subject': 'forged-admin',
        'x-portcullis-roles': 'admin',
        'X-Portcullis-Scope': 'admin',
        'x-forwarded-for': '10.0.0.1',
        cookie: 'session=abc',
      },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-powered-by')).toBeNull();
    expect(response.headers.get('server')).toBeNull();

    const headers = received.at(-1) ?? {};
    expect(headers['x-portcullis-subject']).not.toBe('forged-admin');
    expect(headers['x-portcullis-roles']).toBe('');
    expect(headers['x-portcullis-scope']).toBe('orders:read orders:write');
    expect(headers['x-portcullis-client-id']).toBe(server.demoClientId);
    expect(headers['x-portcullis-credential']).toBe('jwt');
    expect(headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(headers.authorization).toBeUndefined();
    expect(headers.cookie).toBeUndefined();
  });

  it('drops upstream software banner headers', async () => {
    const response = await callApi(server, '/orders', token);

    expect(response.status).toBe(200);
    for (const name of ['server', 'x-powered-by', 'x-aspnet-version', 'x-aspnetmvc-version', 'x-runtime']) {
      expect(response.headers.get(name), name).toBeNull();
    }
  });

  it("keeps Vary: Origin beside the upstream's Vary", async () => {
    const response = await callApi(server, '/orders', token, { headers: { origin: 'https://evil.example' } });
    const vary = (response.headers.get('vary') ?? '').split(',').map((name) => name.trim().toLowerCase());

    expect(response.status).toBe(200);
    expect(vary).toContain('origin');
    expect(vary).toContain('accept-encoding');
  });

  it('drops hop-by-hop and override headers', async () => {
    const response = await rawRequest(`${server.url}/api/orders?limit=5&session_token=S3cr3tValue123`, {
      headers: {
        authorization: `Bearer ${token}`,
        'x_portcullis_roles': 'admin',
        'x-http-method-override': 'DELETE',
        'x-original-url': '/admin/orders',
        'x-rewrite-url': '/admin/orders',
        'keep-alive': 'timeout=5',
        upgrade: 'websocket',
        connection: 'upgrade',
        origin: 'https://evil.example',
      },
    });
    expect(response.status).toBe(200);
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
    expect(response.headers['set-cookie']).toBeUndefined();

    const headers = received.at(-1) ?? {};
    for (const name of ['x_portcullis_roles', 'x-http-method-override', 'x-original-url', 'x-rewrite-url', 'keep-alive', 'upgrade']) {
      expect(headers[name], name).toBeUndefined();
    }
    expect(server.logs.join('\n')).not.toContain('S3cr3tValue123');
  });

  it('drops forged headers after many other names', async () => {
    // The gateway remembers its decision for a bounded number of header
    // names, so these requests overflow that memory. Every name must still be checked.
    for (let batch = 0; batch < 3; batch += 1) {
      const names = Array.from({ length: 100 }, (_, index) => [`x-filler-${batch}-${index}`, 'value']);
      expect((await callApi(server, '/orders', token, { headers: Object.fromEntries(names) })).status).toBe(200);
    }
    const long = `x-${'long-'.repeat(20)}name`;

    const response = await rawRequest(`${server.url}/api/orders`, {
      headers: { authorization: `Bearer ${token}`, 'x_portcullis_scope': 'admin', 'x-http-method': 'DELETE', 'x-filler-extra': 'kept', [long]: 'kept too' },
    });

    expect(response.status).toBe(200);
    const headers = received.at(-1) ?? {};
    expect(headers['x_portcullis_scope']).toBeUndefined();
    expect(headers['x-portcullis-scope']).toBe('orders:read orders:write');
    expect(headers['x-http-method']).toBeUndefined();
    expect(headers['x-filler-extra']).toBe('kept');
    expect(headers[long]).toBe('kept too');
    expect(headers['x-filler-2-99']).toBeUndefined();
  });

  it('drops headers that Connection lists', async () => {
    const response = await rawRequest(`${server.url}/api/orders`, {
      headers: { authorization: `Bearer ${token}`, connection: 'keep-alive, x-client-hop', 'x-client-hop': 'one connection only', 'x-kept': 'yes' },
    });
    expect(response.status).toBe(200);
    expect(response.headers['x-upstream-hop']).toBeUndefined();

    const headers = received.at(-1) ?? {};
    expect(headers['x-client-hop']).toBeUndefined();
    expect(headers['x-kept']).toBe('yes');
  });

  /** Sends a valid JSON order with `headers` added to its request. */
  async function postOrder(headers: Record<string, string>): Promise<RawResponse> {
    return rawRequest(`${server.url}/api/orders`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
      body: '{"item":"x","quantity":1}',
    });
  }

  it('keeps Content-Type that Connection lists', async () => {
    const response = await postOrder({ connection: 'keep-alive, content-type' });
    expect(response.status).toBe(200);

    const headers = received.at(-1) ?? {};
    expect(headers['content-type']).toBe('application/json');
  });

  it('forwards a POST that expects 100-continue', async () => {
    const response = await postOrder({ expect: '100-continue' });
    expect(response.status).toBe(200);
  });

  it('never forwards unauthenticated requests', async () => {
    const before = received.length;
    await callApi(server, '/orders', undefined);
    await callApi(server, '/orders', 'not.a.token');
    await callApi(server, '/undeclared', token);
    expect(received.length).toBe(before);
  });
});

describe('configured gateway routes', () => {
  let upstream: Server;
  let paths: string[];
  let server: TestServer;

  beforeAll(async () => {
    paths = [];
    upstream = createServer((request, response) => {
      paths.push(`${request.method} ${request.url}`);
      response.setHeader('content-type', 'application/json');
      response.end('{}');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const config = await writeConfigFile({
      gateway: {
        upstreamUrl: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v2`,
        routes: [{ method: 'GET', path: '/things/:thing', scopes: ['orders:read'], credentials: ['jwt'] }],
      },
      rateLimit: { flows: [] },
    });
    server = await startTestServer({ config });
  });

  afterAll(async () => {
    await server.close();
    await new Promise((resolve) => upstream.close(resolve));
  });

  it('forwards only the configured operations', async () => {
    const token = (await obtainTokens(server, await createUser(server, 'route_user'))).tokens.access_token;

    expect((await callApi(server, '/things/lamp?x=1', token)).status).toBe(200);
    expect((await callApi(server, '/orders', token)).status).toBe(404);
    expect((await callApi(server, '/things/lamp', token, { method: 'DELETE' })).status).toBe(404);
    expect(paths).toEqual(['GET /v2/things/lamp?x=1']);
  });

  it('rejects a route without credential kinds', async () => {
    const { loadConfig, ConfigError } = await import('../../src/config/load.js');
    const file = await writeConfigFile({ gateway: { routes: [{ method: 'GET', path: '/x', credentials: [] }] } });
    expect(() => loadConfig({ config: file }, {})).toThrow(ConfigError);
  });
});
