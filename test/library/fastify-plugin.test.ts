import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

import { AccessTokenVerifier } from '../../src/core/access-token-verifier.js';
import { Authenticator } from '../../src/library/authenticator.js';
import { createRateLimiter, openApiKeyStore, type ApiKeyStore, type LimitRule, type OutboundPolicy } from '../../src/library/index.js';
import { identityOf, portcullis, requireAccess, type PortcullisFastifyOptions, type RouteAccess } from '../../src/library/fastify.js';
import { createDataDirWithKey } from '../support/api-key-data-dir.js';
import { loggedHttpApp } from '../support/http-app.js';
import { KeySetServer } from '../support/key-set-server.js';

const ISSUER = 'https://id.example.com';
const AUDIENCE = `${ISSUER}/api`;
const ALLOWED_ORIGIN = 'https://app.example.com';

interface Problem {
  code: string;
  status: number;
  detail: string;
}

/** A JWK Set served over HTTP on loopback, counting its fetches. */
interface KeyServer {
  url: string;
  fetches: number;
  server: Server;
}

async function startKeyServer(jwks: { keys: JWK[] } | 'error'): Promise<KeyServer> {
  const keyServer: KeyServer = { url: '', fetches: 0, server: createServer() };
  keyServer.server.on('request', (_request, response) => {
    keyServer.fetches += 1;
    if (jwks === 'error') {
      response.statusCode = 500;
      response.end('{}');
      return;
    }
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => keyServer.server.listen(0, '127.0.0.1', resolve));
  keyServer.url = `http://127.0.0.1:${(keyServer.server.address() as AddressInfo).port}/jwks`;
  return keyServer;
}

function loopbackPolicy(url: string): OutboundPolicy {
  const port = Number(new URL(url).port);
  return { allowHttp: true, allowedPorts: [port], allowedHosts: [{ name: '127.0.0.1', allowInternal: true }] };
}

describe('Fastify plugin', () => {
  let privateKey: CryptoKey;
  let keyServer: KeyServer;
  let failingKeyServer: KeyServer;
  let dataDir: string;
  let apiKeyStore: ApiKeyStore;
  let apiKey: { key: string; ownerId: string };
  let app: FastifyInstance;

  async function token(claims: Record<string, unknown> = {}, signingKey: CryptoKey = privateKey): Promise<string> {
    return new SignJWT({ client_id: 'app', grant_id: 'grant-1', scope: 'orders:read', roles: [], ...claims })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'test-key' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject((claims['sub'] as string | undefined) ?? 'alice')
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(signingKey);
  }

  async function createApp(overrides: Partial<PortcullisFastifyOptions> = {}): Promise<FastifyInstance> {
    const instance = Fastify();
    await instance.register(portcullis, {
      accessTokens: { issuer: ISSUER, audience: AUDIENCE, jwksUrl: keyServer.url, outbound: loopbackPolicy(keyServer.url) },
      apiKeys: apiKeyStore,
      rateLimit: { limiter: createRateLimiter(), limits: [{ name: 'per-user', key: ['sub'], limit: 1000, period: '1s', onStoreFailure: 'open' }] },
      cors: { origins: [ALLOWED_ORIGIN] },
      ...overrides,
    });

    instance.get('/orders', { config: { portcullis: { scopes: ['orders:read'] } } }, async (request) => identityOf(request));
    instance.get('/admin', { config: { portcullis: { scopes: ['admin'], roles: ['admin'] } } }, async () => ({ ok: true }));
    instance.get('/public', { config: { portcullis: { public: true } } }, async () => ({ ok: true }));
    instance.get('/public/identity', { config: { portcullis: { public: true } } }, async (request) => identityOf(request));
    instance.get(
      '/exports',
      { config: { portcullis: { limits: [{ name: 'exports', key: ['sub'], limit: 1, period: '1h', onStoreFailure: 'closed' }] } } },
      async () => ({ ok: true }),
    );
    await instance.ready();
    return instance;
  }

  function expectProblem(response: LightMyRequestResponse, status: number, code: string): Problem {
    expect(response.statusCode).toBe(status);
    expect(response.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    const problem = response.json<Problem>();
    expect(problem.code).toBe(code);
    expect(problem.status).toBe(status);
    expect(response.body).not.toMatch(/\n\s+at /);
    return problem;
  }

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256');
    privateKey = pair.privateKey;
    keyServer = await startKeyServer({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'test-key', alg: 'ES256', use: 'sig' }] });
    failingKeyServer = await startKeyServer('error');

    dataDir = await mkdtemp(join(tmpdir(), 'portcullis-library-'));
    apiKey = await createDataDirWithKey(dataDir);
    apiKeyStore = await openApiKeyStore({ dataDir });

    app = await createApp();
  });

  afterAll(async () => {
    await app.close();
    await apiKeyStore.close();
    await rm(dataDir, { recursive: true, force: true });
    await new Promise((resolve) => keyServer.server.close(resolve));
    await new Promise((resolve) => failingKeyServer.server.close(resolve));
  });

  it('accepts a valid access token', async () => {
    const response = await app.inject({ url: '/orders', headers: { authorization: `Bearer ${await token()}` } });

    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ subject: 'alice', scopes: ['orders:read'], credential: 'jwt', clientId: 'app' });
    expect(response.headers['ratelimit-policy']).toBe('"per-user";q=1000;w=1');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
  });

  it('requires a credential', async () => {
    const problem = expectProblem(await app.inject({ url: '/orders' }), 401, 'unauthorized');

    expect(problem.detail).toContain('credential is required');
  });

  it('challenges a public route reading the caller', async () => {
    const response = await app.inject({ url: '/public/identity' });

    const problem = expectProblem(response, 401, 'unauthorized');
    expect(problem.detail).toBe('This route has no authenticated caller.');
    expect(response.headers['www-authenticate']).toBe('Bearer realm="portcullis"');
  });

  it('rejects a padded access token', async () => {
    const response = await app.inject({ url: '/orders', headers: { authorization: `Bearer ${await token()}==` } });

    const problem = expectProblem(response, 401, 'unauthorized');
    expect(problem.detail).toBe('The access token is invalid: the access token\'s signature ends in "=" padding, which a compact JWS does not use.');
    expect(response.headers['www-authenticate']).toContain('error="invalid_token"');
  });

  it('rejects a token of another key', async () => {
    const other = await generateKeyPair('ES256');
    const response = await app.inject({ url: '/orders', headers: { authorization: `Bearer ${await token({}, other.privateKey)}` } });

    const problem = expectProblem(response, 401, 'unauthorized');
    expect(problem.detail).toContain('signature is invalid');
  });

  it('rejects a token of another issuer', async () => {
    const forged = await new SignJWT({ client_id: 'app', scope: 'orders:read' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'test-key' })
      .setIssuer('https://evil.example.com')
      .setAudience(AUDIENCE)
      .setSubject('alice')
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);

    const problem = expectProblem(await app.inject({ url: '/orders', headers: { authorization: `Bearer ${forged}` } }), 401, 'unauthorized');
    expect(problem.detail).toContain('"iss"');
  });

  it('rejects a user token without grant_id', async () => {
    const response = await app.inject({ url: '/orders', headers: { authorization: `Bearer ${await token({ grant_id: undefined })}` } });

    const problem = expectProblem(response, 401, 'unauthorized');
    expect(problem.detail).toBe('The access token is invalid: the access token\'s "grant_id" claim is missing, which a token whose "sub" is not its "client_id" needs.');
    expect(response.headers['www-authenticate']).toContain('error="invalid_token"');
  });

  it('answers 503 when the grant check fails', async () => {
    const lines: string[] = [];
    const instance = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => lines.push(line) } } });
    const isGrantActive = async () => {
      throw new Error('connection refused');
    };
    await instance.register(portcullis, {
      accessTokens: { issuer: ISSUER, audience: AUDIENCE, jwksUrl: keyServer.url, outbound: loopbackPolicy(keyServer.url), isGrantActive },
    });
    instance.get('/orders', async () => ({ ok: true }));
    const bearer = `Bearer ${await token()}`;

    const first = await instance.inject({ url: '/orders', headers: { authorization: bearer } });
    const second = await instance.inject({ url: '/orders', headers: { authorization: bearer } });

    const problem = expectProblem(first, 503, 'service_unavailable');
    expect(problem.detail).toBe('The check of the token\'s grant failed. Retry shortly.');
    expect(first.headers['retry-after']).toBe('5');
    expect(second.statusCode).toBe(503);
    const logged = lines.filter((line) => line.includes('grant check unavailable'));
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain('connection refused');
    await instance.close();
  });

  it('enforces route scopes', async () => {
    const response = await app.inject({ url: '/orders', headers: { authorization: `Bearer ${await token({ scope: 'orders:write' })}` } });

    const problem = expectProblem(response, 403, 'insufficient_scope');
    expect(problem.detail).toContain('orders:read');
    expect(response.headers['www-authenticate']).toContain('error="insufficient_scope"');
  });

  it('enforces route roles', async () => {
    const withoutRole = await app.inject({ url: '/admin', headers: { authorization: `Bearer ${await token({ scope: 'admin' })}` } });
    expectProblem(withoutRole, 403, 'forbidden');

    const withRole = await app.inject({ url: '/admin', headers: { authorization: `Bearer ${await token({ scope: 'admin', roles: ['admin'] })}` } });
    expect(withRole.statusCode).toBe(200);
  });

  it('accepts an API key from the store', async () => {
    const response = await app.inject({ url: '/orders', headers: { 'x-api-key': apiKey.key } });

    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ subject: apiKey.ownerId, credential: 'api_key' });
  });

  it('rejects an unknown API key', async () => {
    const unknown = `${apiKey.key.slice(0, -4)}AAAA`;

    expectProblem(await app.inject({ url: '/orders', headers: { 'x-api-key': unknown } }), 401, 'unauthorized');
  });

  it('applies route limits', async () => {
    const headers = { authorization: `Bearer ${await token({ sub: 'exporter' })}` };

    expect((await app.inject({ url: '/exports', headers })).statusCode).toBe(200);
    const denied = await app.inject({ url: '/exports', headers });

    const problem = expectProblem(denied, 429, 'rate_limited');
    expect(problem.detail).toContain("'exports'");
    expect(Number(denied.headers['retry-after'])).toBeGreaterThan(0);
    expect(denied.headers['ratelimit']).toContain('"exports";r=0');
  });

  it('counts HEAD requests with GET', async () => {
    const headers = { authorization: `Bearer ${await token({ sub: 'head-peeker' })}` };

    expect((await app.inject({ url: '/exports', headers })).statusCode).toBe(200);
    // Fastify serves HEAD with the handler of the GET route.
    const denied = await app.inject({ method: 'HEAD', url: '/exports', headers });
    expect(denied.statusCode).toBe(429);
    expect(denied.headers['ratelimit']).toContain('"exports";r=0');
  });

  it('keeps public routes open', async () => {
    const response = await app.inject({ url: '/public' });

    expect(response.statusCode).toBe(200);
  });

  it.each([
    ['a credential parameter', '/public?access_token=abc'],
    ['an API key value', '/public?note=pcs_live_abc'],
    ['an access token as a name', '/public?eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln'],
  ])('rejects %s on a public route', async (_name, url) => {
    const response = await app.inject({ url });

    const problem = expectProblem(response, 400, 'invalid_request');
    expect(problem.detail).toContain('not accepted in the query string');
    expect(response.headers['www-authenticate']).toBeUndefined();
  });

  it('authenticates unknown paths first', async () => {
    expectProblem(await app.inject({ url: '/nowhere' }), 401, 'unauthorized');

    const known = await app.inject({ url: '/nowhere', headers: { authorization: `Bearer ${await token()}` } });
    expectProblem(known, 404, 'not_found');
  });

  it('answers only listed CORS origins', async () => {
    const allowed = await app.inject({ url: '/public', headers: { origin: ALLOWED_ORIGIN } });
    const other = await app.inject({ url: '/public', headers: { origin: 'https://evil.example.com' } });
    const nullOrigin = await app.inject({ url: '/public', headers: { origin: 'null' } });

    expect(allowed.headers['access-control-allow-origin']).toBe(ALLOWED_ORIGIN);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    expect(nullOrigin.headers['access-control-allow-origin']).toBeUndefined();
    expect(other.headers.vary).toContain('Origin');
  });

  it('leaves OPTIONS without Origin to the routes', async () => {
    const response = await app.inject({ method: 'OPTIONS', url: '/public' });

    expect(response.statusCode).toBeLessThan(500);
    expect(response.headers['content-type']).toContain('application/problem+json');
  });

  it.each([ALLOWED_ORIGIN, 'https://evil.example.com'])('rejects an incomplete preflight from %s', async (origin) => {
    const response = await app.inject({ method: 'OPTIONS', url: '/public', headers: { origin } });

    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect(response.json<{ detail: string }>().detail).toContain('Access-Control-Request-Method');
  });

  it('grants no preflight to another origin', async () => {
    const response = await app.inject({
      method: 'OPTIONS',
      url: '/public',
      headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'DELETE' },
    });

    expect(response.headers['access-control-allow-origin']).toBeUndefined();
    expect(response.headers['access-control-allow-credentials']).toBeUndefined();
  });

  it('answers 503 when the keys cannot be fetched', async () => {
    const failing = await createApp({
      accessTokens: { issuer: ISSUER, audience: AUDIENCE, jwksUrl: failingKeyServer.url, outbound: loopbackPolicy(failingKeyServer.url) },
    });

    const response = await failing.inject({ url: '/orders', headers: { authorization: `Bearer ${await token()}` } });

    expectProblem(response, 503, 'service_unavailable');
    expect(failingKeyServer.fetches).toBeGreaterThan(0);
    await failing.close();
  });

  it('rejects a jwksUrl its outbound policy blocks', async () => {
    const before = keyServer.fetches;
    const guarded = createApp({ accessTokens: { issuer: ISSUER, audience: AUDIENCE, jwksUrl: keyServer.url } });

    await expect(guarded).rejects.toThrow(`accessTokens.jwksUrl ${keyServer.url} is blocked by accessTokens.outbound`);
    expect(keyServer.fetches).toBe(before);
  });

  // Both installed a not-found handler, and Fastify stopped the start with
  // "Not found handler already set for Fastify instance with prefix: '/'".
  it('registers on an app from createHttpApp', async () => {
    const { app: httpApp } = loggedHttpApp({ https: false });
    await httpApp.register(portcullis, { accessTokens: { issuer: ISSUER, audience: AUDIENCE, jwksUrl: keyServer.url, outbound: loopbackPolicy(keyServer.url) } });
    httpApp.get('/orders', { config: { portcullis: { scopes: ['orders:read'] } } }, async (request) => identityOf(request).subject);
    await httpApp.ready();

    const served = await httpApp.inject({ url: '/orders', headers: { authorization: `Bearer ${await token()}` } });
    const unknown = await httpApp.inject({ url: '/unknown', headers: { authorization: `Bearer ${await token()}` } });
    const wrongMethod = await httpApp.inject({ method: 'DELETE', url: '/orders', headers: { authorization: `Bearer ${await token()}` } });

    expect(served.statusCode).toBe(200);
    expect(served.body).toBe('alice');
    expectProblem(unknown, 404, 'not_found');
    expectProblem(wrongMethod, 405, 'method_not_allowed');
    await httpApp.close();
  });

  it('rejects invalid settings at start', async () => {
    await expect(createApp({ accessTokens: undefined, apiKeys: undefined })).rejects.toThrow(/at least one of/);
    await expect(
      createApp({ rateLimit: { limiter: createRateLimiter(), limits: [{ name: 'bad', key: ['ip'], limit: 1, period: 'soon', onStoreFailure: 'open' }] } }),
    ).rejects.toThrow(/Invalid rate limit 'bad'/);
    await expect(createApp({ cors: { origins: ['*'] } })).rejects.toThrow(/Invalid CORS origin/);
  });

  it('rejects limits finer than a microsecond', async () => {
    await expect(
      createApp({ rateLimit: { limiter: createRateLimiter(), limits: [{ name: 'dense', key: ['ip'], limit: 2001, period: '2ms', onStoreFailure: 'open' }] } }),
    ).rejects.toThrow(
      "Invalid rate limit 'dense': the limit must be at most 2000 for a period of 2ms, one request per microsecond.",
    );
  });

  it.each(['orders "daily"', 'orders\r\nx-forged: 1', 'per user', ''])('rejects the limit name %j', async (name) => {
    const limits: LimitRule[] = [{ name, key: ['sub'], limit: 10, period: '1s', onStoreFailure: 'open' }];
    await expect(createApp({ rateLimit: { limiter: createRateLimiter(), limits } })).rejects.toThrow(
      'it needs a name of 1 to 64 letters, digits, `_`, `.` or `-`',
    );
  });

  it.each<[unknown]>([[['user']], ['sub'], [[]], [['sub', 'Sub']]])('rejects the limit key %j', async (key) => {
    const limits = [{ name: 'per-user', key, limit: 10, period: '1s', onStoreFailure: 'open' }] as unknown as LimitRule[];
    await expect(createApp({ rateLimit: { limiter: createRateLimiter(), limits } })).rejects.toThrow(
      `Invalid rate limit 'per-user': key must be a list of one or more of ip, sub, client_id, api_key, such as ['sub'], got ${JSON.stringify(key)}.`,
    );
  });

  it('rejects limits on public routes', async () => {
    const instance = Fastify();
    await instance.register(portcullis, {
      accessTokens: { issuer: ISSUER, audience: AUDIENCE, jwksUrl: keyServer.url, outbound: loopbackPolicy(keyServer.url) },
      rateLimit: { limiter: createRateLimiter(), limits: [] },
    });
    const access: RouteAccess = { public: true, limits: [{ name: 'searches', key: ['ip'], limit: 1, period: '1h', onStoreFailure: 'closed' }] };
    expect(() => instance.get('/search', { config: { portcullis: access } }, async () => ({ ok: true }))).toThrow(
      'A public route declares limits, but the guard charges no limits on public routes; remove public: true or the limits.',
    );
    await instance.close();
  });

  it('rejects two limits with one name', async () => {
    const perSecond: LimitRule = { name: 'per-user', key: ['sub'], limit: 10, period: '1s', onStoreFailure: 'open' };
    const perDay: LimitRule = { ...perSecond, limit: 1000, period: '1d' };
    await expect(createApp({ rateLimit: { limiter: createRateLimiter(), limits: [perSecond, perDay] } })).rejects.toThrow(
      "Invalid rate limit 'per-user': two limits are named 'per-user'",
    );

    const instance = Fastify();
    await instance.register(portcullis, {
      accessTokens: { issuer: ISSUER, audience: AUDIENCE, jwksUrl: keyServer.url, outbound: loopbackPolicy(keyServer.url) },
      rateLimit: { limiter: createRateLimiter(), limits: [] },
    });
    const access = { limits: [perSecond, perDay] } as unknown as RouteAccess;
    expect(() => instance.get('/reports', { config: { portcullis: access } }, async () => ({ ok: true }))).toThrow(
      "Invalid rate limit 'per-user': two limits are named 'per-user'",
    );
    await instance.close();
  });

  it.each([
    [{ scopes: 'admin' }, /scopes must be a list of non-empty strings/],
    [{ roles: [['admin']] }, /roles must be a list of non-empty strings/],
    [{ public: 'yes' }, /public must be true or false/],
  ])('rejects route access %j', async (access, message) => {
    const instance = Fastify();
    await instance.register(portcullis, { accessTokens: { issuer: ISSUER, audience: AUDIENCE, jwksUrl: keyServer.url, outbound: loopbackPolicy(keyServer.url) } });

    expect(() => instance.get('/admin', { config: { portcullis: access as unknown as RouteAccess } }, async () => ({ ok: true }))).toThrow(message);
    expect(() => requireAccess(access as unknown as RouteAccess)).toThrow(message);
    await instance.close();
  });
});

describe('Fastify plugin with keys that change', () => {
  const keyServer = new KeySetServer();
  let privateKey: CryptoKey;
  let publicJwk: JWK;

  beforeAll(async () => {
    await keyServer.listen();
    const pair = await generateKeyPair('ES256');
    privateKey = pair.privateKey;
    publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'test-key', alg: 'ES256', use: 'sig' };
  });

  beforeEach(() => {
    // Only the clock moves: the key server and the fetches use real timers.
    vi.useFakeTimers({ toFake: ['Date'] });
    keyServer.keys = [publicJwk];
    keyServer.mode = 'serve';
    keyServer.fetches = 0;
  });

  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  afterAll(async () => {
    await keyServer.close();
  });

  async function guardedApp(lines: string[] = [], tokenCacheSize?: number, moreRoutes?: (instance: FastifyInstance) => void): Promise<FastifyInstance> {
    const instance = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => lines.push(line) } } });
    await instance.register(portcullis, {
      accessTokens: { issuer: ISSUER, audience: AUDIENCE, jwksUrl: keyServer.url, outbound: keyServer.policy, tokenCacheSize },
    });
    instance.get('/orders', { config: { portcullis: { scopes: ['orders:read'] } } }, async () => ({ ok: true }));
    moreRoutes?.(instance);
    await instance.ready();
    return instance;
  }

  function accessToken(): Promise<string> {
    return new SignJWT({ client_id: 'app', grant_id: 'grant-1', scope: 'orders:read' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'test-key' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('alice')
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime('30m')
      .sign(privateKey);
  }

  /** Repeats `call`, in real time, until `done` is true for its result or 5 seconds pass; returns the last result. */
  async function repeatUntil<T>(call: () => Promise<T>, done: (result: T) => boolean): Promise<T> {
    let result = await call();
    for (let attempt = 0; attempt < 100 && !done(result); attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      result = await call();
    }
    return result;
  }

  // With the cache, the first check ran before any keys were known, so the
  // cache emptied once when the first fetch brought them.
  for (const { tokenCacheSize, checks } of [
    { tokenCacheSize: undefined, checks: 2 },
    { tokenCacheSize: 0, checks: 4 },
  ]) {
    it(`checks a repeated token ${checks} times in 4 requests with cache size ${String(tokenCacheSize)}`, async () => {
      const verify = vi.spyOn(AccessTokenVerifier.prototype, 'verify');
      const instance = await guardedApp([], tokenCacheSize);
      const token = await accessToken();

      for (let call = 0; call < 4; call += 1) {
        expect((await instance.inject({ url: '/orders', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(200);
      }

      expect(verify).toHaveBeenCalledTimes(checks);
      await instance.close();
    });
  }

  it('keeps cached tokens when keys are unchanged', async () => {
    const verify = vi.spyOn(AccessTokenVerifier.prototype, 'verify');
    const instance = await guardedApp();
    const token = await accessToken();
    const call = async () => (await instance.inject({ url: '/orders', headers: { authorization: `Bearer ${token}` } })).statusCode;
    expect([await call(), await call()]).toEqual([200, 200]);
    expect(verify).toHaveBeenCalledTimes(2);

    // The keys are old enough for a background fetch, which brings the same keys.
    vi.setSystemTime(Date.now() + 6 * 60_000);
    expect(await call()).toBe(200);
    expect(await repeatUntil(async () => keyServer.fetches, (fetches) => fetches >= 2)).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 200));

    expect([await call(), await call()]).toEqual([200, 200]);
    expect(verify).toHaveBeenCalledTimes(2);
    await instance.close();
  });

  it('rejects a cached token once its key is withdrawn', async () => {
    const instance = await guardedApp();
    const token = await accessToken();
    const call = () => instance.inject({ url: '/orders', headers: { authorization: `Bearer ${token}` } });
    expect((await call()).statusCode).toBe(200);

    keyServer.keys = [];
    vi.setSystemTime(Date.now() + 6 * 60_000);

    // The cached token is served until the background fetch has replaced the keys.
    const last = await repeatUntil(call, (response) => response.statusCode !== 200);
    expect(last.statusCode).toBe(401);
    expect(keyServer.fetches).toBeGreaterThanOrEqual(2);
    await instance.close();
  });

  it('logs a failed background fetch and keeps serving', async () => {
    const lines: string[] = [];
    const instance = await guardedApp(lines);
    const token = await accessToken();
    const call = () => instance.inject({ url: '/orders', headers: { authorization: `Bearer ${token}` } });
    expect((await call()).statusCode).toBe(200);

    keyServer.mode = 'fail';
    vi.setSystemTime(Date.now() + 6 * 60_000);
    expect((await call()).statusCode).toBe(200);

    const logged = () => lines.some((line) => line.includes('background fetch of the JWK Set failed'));
    for (let attempt = 0; attempt < 100 && !logged(); attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(logged()).toBe(true);
    expect(lines.join('')).not.toContain(token);
    await instance.close();
  });

  it('serves no cached token with expired keys', async () => {
    const instance = await guardedApp();
    const token = await accessToken();
    const call = () => instance.inject({ url: '/orders', headers: { authorization: `Bearer ${token}` } });
    // A single request: its token was checked before any keys were known.
    expect((await call()).statusCode).toBe(200);

    keyServer.mode = 'fail';
    vi.setSystemTime(Date.now() + 11 * 60_000);
    expect((await call()).statusCode).toBe(503);

    keyServer.mode = 'serve';
    keyServer.keys = [];
    vi.setSystemTime(Date.now() + 6000);
    expect((await call()).statusCode).toBe(401);
    await instance.close();
  });

  it('freezes the identity of cached tokens', async () => {
    const instance = await guardedApp([], undefined, (app) => {
      app.get('/tamper', { config: { portcullis: { scopes: ['orders:read'] } } }, async (request) => {
        try {
          (identityOf(request).scopes as string[]).push('orders:write');
          return { changed: true };
        } catch {
          return { changed: false };
        }
      });
      app.get('/write', { config: { portcullis: { scopes: ['orders:write'] } } }, async () => ({ ok: true }));
    });
    const token = await accessToken();
    const headers = { authorization: `Bearer ${token}` };

    expect((await instance.inject({ url: '/orders', headers })).statusCode).toBe(200);
    expect((await instance.inject({ url: '/tamper', headers })).json()).toEqual({ changed: false });
    expect((await instance.inject({ url: '/write', headers })).statusCode).toBe(403);
    await instance.close();
  });

  it('answers 503 for a response that is no JWK Set', async () => {
    keyServer.mode = 'not-a-key-set';
    const instance = await guardedApp();

    const response = await instance.inject({ url: '/orders', headers: { authorization: `Bearer ${await accessToken()}` } });

    expect(response.statusCode).toBe(503);
    expect(response.json<Problem>().code).toBe('service_unavailable');
    expect(response.headers['retry-after']).toBe('5');
    await instance.close();
  });

  it('rejects an invalid token cache size', () => {
    for (const tokenCacheSize of [-1, 1.5, Number.NaN]) {
      const settings = { accessTokens: { issuer: ISSUER, audience: AUDIENCE, jwksUrl: keyServer.url, tokenCacheSize } };
      expect(() => new Authenticator(settings)).toThrow(RangeError);
      expect(() => new Authenticator(settings)).toThrow(/tokenCacheSize must be a whole number of 0 or more/);
    }
  });
});
