import { randomBytes, randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import cors from 'cors';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { IdentityAssertionSigner } from '../../src/core/identity-assertion.js';
import type { Identity } from '../../src/core/identity-headers.js';
import { ProblemError, corsOptions, createRateLimiter } from '../../src/library/index.js';
import { identityOf, portcullis, problemHandler, securityHeaders } from '../../src/library/express.js';

const ISSUER = 'https://id.example.com';
const AUDIENCE = `${ISSUER}/api`;

/** Starts `app` on a free loopback port. */
async function listenOnLoopback(app: express.Express): Promise<{ server: Server; baseUrl: string }> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return { server, baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const reader: Identity = { subject: 'reader', scopes: ['orders:read'], roles: [], clientId: 'app', credential: 'jwt' };

describe('Express middleware', () => {
  const signer = new IdentityAssertionSigner({ seed: randomBytes(32), issuer: ISSUER, audience: AUDIENCE });
  let server: Server;
  let baseUrl: string;

  async function call(method: string, path: string, identity: Identity | undefined, signedPath = path): Promise<Response> {
    const headers: Record<string, string> = {};
    if (identity !== undefined) {
      headers['x-portcullis-identity'] = await signer.sign(identity, { method, target: signedPath, requestId: randomUUID() });
    }
    return fetch(`${baseUrl}${path}`, { method, headers });
  }

  beforeAll(async () => {
    const auth = portcullis({
      identityAssertions: { issuer: ISSUER, audience: AUDIENCE, jwks: await signer.publicJwks() },
      rateLimit: { limiter: createRateLimiter(), limits: [{ name: 'per-user', key: ['sub'], limit: 100, period: '1s', onStoreFailure: 'open' }] },
    });

    const router = express.Router();
    router.get('/orders', auth.requireAccess({ scopes: ['orders:read'] }), (request, response) => {
      response.json(identityOf(request));
    });
    router.get('/admin', auth.requireAccess({ scopes: ['orders:read'], roles: ['admin'] }), (_request, response) => {
      response.json({ ok: true });
    });
    router.get(
      '/exports/:id',
      auth.requireAccess({ limits: [{ name: 'exports', key: ['sub'], limit: 1, period: '1h', onStoreFailure: 'closed' }] }),
      (_request, response) => {
        response.json({ ok: true });
      },
    );
    router.get(
      ['/batches/:id', '/batch-jobs/:id'],
      auth.requireAccess({ limits: [{ name: 'batches', key: ['sub'], limit: 1, period: '1h', onStoreFailure: 'closed' }] }),
      (_request, response) => {
        response.json({ ok: true });
      },
    );
    router.get('/fails', () => {
      throw new Error('database password=hunter2 unreachable');
    });
    router.get('/gone', () => {
      throw new ProblemError('not_found', 'No such thing exists.');
    });

    const app = express();
    app.use(securityHeaders());
    app.get('/health', auth.requireAccess({ public: true }), (_request, response) => {
      response.json({ status: 'ok' });
    });
    app.get('/unguarded/identity', (request, response) => {
      response.json(identityOf(request));
    });
    app.use(auth);
    app.use('/v1', router);
    app.use('/reports', auth.requireAccess({ limits: [{ name: 'reports', key: ['sub'], limit: 1, period: '1h', onStoreFailure: 'closed' }] }), (_request, response) => {
      response.json({ ok: true });
    });
    app.use(problemHandler());

    ({ server, baseUrl } = await listenOnLoopback(app));
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('accepts an assertion for the full path', async () => {
    const response = await call('GET', '/v1/orders', reader);

    expect(response.status).toBe(200);
    expect(((await response.json()) as Identity).subject).toBe('reader');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('ratelimit-policy')).toBe('"per-user";q=100;w=1');
  });

  it('rejects an assertion for the router path', async () => {
    const response = await call('GET', '/v1/orders', reader, '/orders');

    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(((await response.json()) as { detail: string }).detail).toContain('another method or path');
  });

  it('rejects a replayed assertion', async () => {
    const headers = { 'x-portcullis-identity': await signer.sign(reader, { method: 'GET', target: '/v1/orders', requestId: randomUUID() }) };

    expect((await fetch(`${baseUrl}/v1/orders`, { headers })).status).toBe(200);
    const replayed = await fetch(`${baseUrl}/v1/orders`, { headers });
    expect(replayed.status).toBe(401);
    expect(((await replayed.json()) as { detail: string }).detail).toContain('already used');
  });

  it('rejects a missing assertion', async () => {
    const response = await call('GET', '/v1/orders', undefined);

    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="portcullis"');
  });

  it('serves a public route without credentials', async () => {
    const response = await call('GET', '/health?verbose=1', undefined);

    expect(response.status).toBe(200);
  });

  it.each([
    ['a credential parameter', '/health?access_token=abc'],
    ['an API key value', '/health?note=pcs_live_abc'],
    ['an access token as a name', '/health?eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln'],
  ])('rejects %s on a public route', async (_name, path) => {
    const response = await call('GET', path, undefined);

    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    const problem = (await response.json()) as { code: string; detail: string };
    expect(problem.code).toBe('invalid_request');
    expect(problem.detail).toContain('not accepted in the query string');
  });

  it('challenges a route without the middleware', async () => {
    const response = await fetch(`${baseUrl}/unguarded/identity`);

    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="portcullis"');
    expect(((await response.json()) as { detail: string }).detail).toBe('This route has no authenticated caller.');
  });

  it('enforces scopes and roles', async () => {
    const withoutScope = await call('GET', '/v1/orders', { ...reader, scopes: [] });
    const withoutRole = await call('GET', '/v1/admin', reader);

    expect(withoutScope.status).toBe(403);
    expect(((await withoutScope.json()) as { code: string }).code).toBe('insufficient_scope');
    expect(withoutRole.status).toBe(403);
    expect(((await withoutRole.json()) as { code: string }).code).toBe('forbidden');
  });

  it('keys route limits by template', async () => {
    const exporter = { ...reader, subject: 'exporter' };

    expect((await call('GET', '/v1/exports/1', exporter)).status).toBe(200);
    const denied = await call('GET', '/v1/exports/2', exporter);

    expect(denied.status).toBe(429);
    expect(denied.headers.get('retry-after')).not.toBeNull();
    expect(denied.headers.get('ratelimit-policy')).toBe('"per-user";q=100;w=1, "exports";q=1;w=3600');
  });

  it('keys route limits by mount path in any case', async () => {
    const exporter = { ...reader, subject: 'mount-case-exporter' };

    expect((await call('GET', '/v1/exports/1', exporter)).status).toBe(200);
    // Express routes /V1 to the router mounted at /v1, and its baseUrl spells the path as the request did.
    for (const path of ['/V1/exports/1', '/v1/EXPORTS/2', '/v1/exports/3/']) {
      expect((await call('GET', path, exporter)).status, path).toBe(429);
    }
  });

  it('counts HEAD requests with GET', async () => {
    const peeker = { ...reader, subject: 'head-peeker' };

    expect((await call('GET', '/v1/exports/1', peeker)).status).toBe(200);
    // Express serves HEAD with the GET route, so a HEAD request runs the same handler.
    expect((await call('HEAD', '/v1/exports/2', peeker)).status).toBe(429);
  });

  it('keys limits of a route with several paths by its paths', async () => {
    const batcher = { ...reader, subject: 'batcher' };

    expect((await call('GET', '/v1/batches/1', batcher)).status).toBe(200);
    for (const path of ['/v1/batches/2', '/v1/batch-jobs/3']) {
      expect((await call('GET', path, batcher)).status, path).toBe(429);
    }
  });

  it('keys mounted middleware limits by mount path', async () => {
    const writer = { ...reader, subject: 'mounted-writer' };

    expect((await call('GET', '/reports/first', writer)).status).toBe(200);
    for (const path of ['/reports/second', '/REPORTS/first', '/reports']) {
      expect((await call('GET', path, writer)).status, path).toBe(429);
    }
  });

  it('hides unexpected errors', async () => {
    const response = await call('GET', '/v1/fails', reader);
    const body = await response.text();

    expect(response.status).toBe(500);
    expect(body).not.toContain('hunter2');
    expect(JSON.parse(body)).toMatchObject({ code: 'internal_error', request_id: response.headers.get('x-request-id') });
  });

  it('rejects invalid route access', () => {
    const auth = portcullis({ identityAssertions: { issuer: ISSUER, audience: AUDIENCE, jwks: { keys: [] } } });

    expect(() => auth.requireAccess({ scopes: 'orders:read' as unknown as string[] })).toThrow(/scopes must be a list of non-empty strings/);
    expect(() => auth.requireAccess({ roles: [1] as unknown as string[] })).toThrow(/roles must be a list of non-empty strings/);
  });

  it('rejects invalid IPv6 prefix lengths', () => {
    const limits = [{ name: 'per-address', key: ['ip' as const], limit: 10, period: '1s', onStoreFailure: 'open' as const }];
    const withPrefix = (ipv6PrefixLength: unknown) => () =>
      portcullis({
        identityAssertions: { issuer: ISSUER, audience: AUDIENCE, jwks: { keys: [] } },
        rateLimit: { limiter: createRateLimiter(), limits, ipv6PrefixLength: ipv6PrefixLength as number },
      });

    for (const value of [0, 16, 31, 129, 64.5, '64', Number.NaN]) {
      expect(withPrefix(value), String(value)).toThrow(RangeError);
    }
    for (const value of [32, 48, 64, 128, undefined]) {
      expect(withPrefix(value), String(value)).not.toThrow();
    }
  });

  // Without options, the middleware failed with "Cannot read properties of undefined (reading 'logger')".
  it.each([undefined, null, 'https://id.example.com'])('rejects the options %j', (options) => {
    const create = () => portcullis(options as unknown as Parameters<typeof portcullis>[0]);
    expect(create).toThrow(RangeError);
    expect(create).toThrow('Configure at least one of accessTokens, identityAssertions and apiKeys.');
  });

  it('sends thrown problems', async () => {
    const response = await call('GET', '/v1/gone', reader);

    expect(response.status).toBe(404);
    expect(((await response.json()) as { detail: string }).detail).toBe('No such thing exists.');
  });
});

describe('Express CORS options', () => {
  const appOrigin = 'https://app.example.com';
  let server: Server;
  let baseUrl: string;

  beforeAll(async () => {
    const app = express();
    app.use(cors(corsOptions({ origins: [appOrigin] })));
    app.get('/items', (_request, response) => {
      response.json([]);
    });

    ({ server, baseUrl } = await listenOnLoopback(app));
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('names the listed origin only', async () => {
    const listed = await fetch(`${baseUrl}/items`, { headers: { origin: appOrigin } });
    const other = await fetch(`${baseUrl}/items`, { headers: { origin: 'https://evil.example' } });
    const nullOrigin = await fetch(`${baseUrl}/items`, { headers: { origin: 'null' } });

    expect(listed.headers.get('access-control-allow-origin')).toBe(appOrigin);
    expect(listed.headers.get('access-control-allow-credentials')).toBeNull();
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    expect(nullOrigin.headers.get('access-control-allow-origin')).toBeNull();
  });

  it.each([
    ['the listed origin', appOrigin],
    ['another origin', 'https://evil.example'],
    ['the null origin', 'null'],
  ])('varies by Origin for %s', async (_label, origin) => {
    const response = await fetch(`${baseUrl}/items`, { headers: { origin } });

    expect(response.status).toBe(200);
    expect(response.headers.get('vary')).toContain('Origin');
  });

  it('rejects invalid allowed headers', () => {
    for (const name of ['x-a\r\nx-injected: 1', 'x a', '', '*', 'x-a, x-b']) {
      expect(() => corsOptions({ origins: [appOrigin], allowedHeaders: [name] }), JSON.stringify(name)).toThrow(RangeError);
    }
    expect(corsOptions({ origins: [appOrigin], allowedHeaders: ['authorization', 'X-Request-Id'] }).allowedHeaders).toEqual(['authorization', 'X-Request-Id']);
  });

  it('grants no preflight to another origin', async () => {
    const response = await fetch(`${baseUrl}/items`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'DELETE' },
    });

    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
  });
});
