import { generateKeyPairSync, randomBytes, randomUUID, sign as signBytes, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { JWK } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { IdentityAssertionSigner } from '../../src/core/identity-assertion.js';
import type { Identity } from '../../src/core/identity-headers.js';
import { createRateLimiter } from '../../src/library/index.js';
import { identityOf, portcullis, problemHandler } from '../../src/library/express.js';

const ISSUER = 'https://id.example.com';
const AUDIENCE = `${ISSUER}/api`;
const reader: Identity = { subject: 'reader', scopes: ['orders:read'], roles: [], clientId: 'app', credential: 'jwt' };

interface Listening {
  server: Server;
  url: string;
  port: number;
}

const servers: Server[] = [];

async function listen(server: Server): Promise<Listening> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}`, port };
}

/** Serves `body` as the key set after `delayMs`. */
async function keyServer(body: () => unknown, delayMs = 0): Promise<Listening> {
  return listen(
    createServer((_request, response) => {
      setTimeout(() => {
        response.setHeader('content-type', 'application/json');
        response.end(JSON.stringify(body()));
      }, delayMs);
    }),
  );
}

async function expressApp(jwksUrl: string, port: number, answerFirstAfterMs?: number): Promise<Listening> {
  const app = express();
  if (answerFirstAfterMs !== undefined) {
    // A timeout middleware, as many services put in front of everything else.
    app.use((_request, response, next) => {
      setTimeout(() => {
        if (!response.headersSent) {
          response.status(503).json({ error: 'timeout' });
        }
      }, answerFirstAfterMs);
      next();
    });
  }
  const outbound = { allowHttp: true, allowedPorts: [port], allowedHosts: [{ name: '127.0.0.1', allowInternal: true }] };
  app.use(portcullis({ identityAssertions: { issuer: ISSUER, audience: AUDIENCE, jwksUrl, outbound } }));
  app.get('/orders', (_request, response) => {
    response.json({ ok: true });
  });
  app.use(problemHandler());
  return listen(createServer(app));
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

describe('Express query parameters', () => {
  it('rejects a credential in a __proto__ parameter', async () => {
    const keys = await keyServer(() => ({ keys: [] }));
    const outbound = { allowHttp: true, allowedPorts: [keys.port], allowedHosts: [{ name: '127.0.0.1', allowInternal: true }] };
    const app = express();
    app.use(portcullis({ accessTokens: { issuer: ISSUER, audience: AUDIENCE, jwksUrl: `${keys.url}/jwks.json`, outbound } }));
    app.use(problemHandler());
    const listening = await listen(createServer(app));

    const response = await fetch(`${listening.url}/orders?__proto__=pcs_live_abc`);

    expect(response.status).toBe(400);
    expect(((await response.json()) as { detail: string }).detail).toContain('not accepted in the query string');
  });
});

describe('library key set faults', () => {
  const signer = new IdentityAssertionSigner({ seed: randomBytes(32), issuer: ISSUER, audience: AUDIENCE });
  const assertion = () => signer.sign(reader, { method: 'GET', target: '/orders', requestId: randomUUID() });

  it('answers 503 for a key it cannot import', async () => {
    const good = (await signer.publicJwks()).keys[0]!;
    const keys = await keyServer(() => ({ keys: [{ ...good, x: 'AAAA' }] }));
    const app = await expressApp(`${keys.url}/jwks.json`, keys.port);

    const response = await fetch(`${app.url}/orders`, { headers: { 'x-portcullis-identity': await assertion() } });

    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
    expect(((await response.json()) as { detail: string }).detail).toContain('could not be fetched or used');
  });

  /** Signs an access token with node:crypto, since jose rejects signing with an RSA key under 2048 bits. */
  function accessToken(alg: 'RS256' | 'ES256', privateKey: KeyObject): string {
    const now = Math.floor(Date.now() / 1000);
    const header = { alg, typ: 'at+jwt', kid: 'issuer-key' };
    const claims = { iss: ISSUER, aud: AUDIENCE, sub: 'reader', client_id: 'app', grant_id: 'grant-1', jti: randomUUID(), iat: now, exp: now + 60 };
    const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    const signature = signBytes('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
    return `${input}.${signature.toString('base64url')}`;
  }

  const shortRsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  it.each([
    ['an RSA key under 2048 bits', 'RS256', shortRsa.privateKey, shortRsa.publicKey.export({ format: 'jwk' })],
    ['a private key', 'ES256', ec.privateKey, ec.privateKey.export({ format: 'jwk' })],
  ] as const)('answers 503 for %s', async (_name, alg, privateKey, jwk) => {
    const keys = await keyServer(() => ({ keys: [{ ...(jwk as JWK), kid: 'issuer-key' }] }));
    const outbound = { allowHttp: true, allowedPorts: [keys.port], allowedHosts: [{ name: '127.0.0.1', allowInternal: true }] };
    const app = express();
    app.use(portcullis({ accessTokens: { issuer: ISSUER, audience: AUDIENCE, jwksUrl: `${keys.url}/jwks.json`, outbound, algorithms: ['RS256', 'ES256'] } }));
    app.get('/orders', (_request, response) => {
      response.json({ ok: true });
    });
    app.use(problemHandler());
    const listening = await listen(createServer(app));

    const response = await fetch(`${listening.url}/orders`, { headers: { authorization: `Bearer ${accessToken(alg, privateKey)}` } });

    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
    expect(((await response.json()) as { detail: string }).detail).toContain('could not be fetched or used');
  });

  it('answers 503 for two unusable matching keys', async () => {
    const jwk = { ...(ec.privateKey.export({ format: 'jwk' }) as JWK), kid: 'issuer-key' };
    const keys = await keyServer(() => ({ keys: [jwk, { ...jwk }] }));
    const outbound = { allowHttp: true, allowedPorts: [keys.port], allowedHosts: [{ name: '127.0.0.1', allowInternal: true }] };
    const app = express();
    app.use(portcullis({ accessTokens: { issuer: ISSUER, audience: AUDIENCE, jwksUrl: `${keys.url}/jwks.json`, outbound } }));
    app.use(problemHandler());
    const listening = await listen(createServer(app));

    const response = await fetch(`${listening.url}/orders`, { headers: { authorization: `Bearer ${accessToken('ES256', ec.privateKey)}` } });

    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
    expect(((await response.json()) as { detail: string }).detail).toContain('could not be fetched or used');
  });

  it('answers 503 for private assertion key', async () => {
    const pair = generateKeyPairSync('ed25519');
    const keys = await keyServer(() => ({ keys: [{ ...pair.privateKey.export({ format: 'jwk' }), kid: 'assertion-key' }] }));
    const app = await expressApp(`${keys.url}/jwks.json`, keys.port);
    const header = { alg: 'EdDSA', typ: 'portcullis-identity+jwt', kid: 'assertion-key' };
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: ISSUER, aud: AUDIENCE, sub: 'reader', jti: randomUUID(), iat: now, exp: now + 30, htm: 'GET', target: '/orders' };
    const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    const forged = `${input}.${signBytes(null, Buffer.from(input), pair.privateKey).toString('base64url')}`;

    const response = await fetch(`${app.url}/orders`, { headers: { 'x-portcullis-identity': forged } });

    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
  });

  it('leaves a response sent during the check alone', async () => {
    // An empty key set fails the check, which then writes a 401 of its own.
    const slowKeys = await keyServer(() => ({ keys: [] }), 300);
    const app = await expressApp(`${slowKeys.url}/jwks.json`, slowKeys.port, 50);

    const first = await fetch(`${app.url}/orders`, { headers: { 'x-portcullis-identity': await assertion() } });
    expect(first.status).toBe(503);
    expect(await first.json()).toEqual({ error: 'timeout' });

    // The check ends after the timeout's response. Writing its 401 then
    // must not throw outside every handler, which would end the process.
    // Once the key set has arrived, 300 ms after the first request on an idle
    // machine and later on a loaded one, a request gets the 401 in time.
    const later = async () => (await fetch(`${app.url}/orders`, { headers: { 'x-portcullis-identity': await assertion() } })).status;
    await expect.poll(later, { timeout: 10_000, interval: 100 }).toBe(401);
  });
});

describe('Express middleware used twice', () => {
  const signer = new IdentityAssertionSigner({ seed: randomBytes(32), issuer: ISSUER, audience: AUDIENCE });
  const assertion = (target: string) => signer.sign(reader, { method: 'GET', target, requestId: randomUUID() });

  it('checks a request once', async () => {
    const auth = portcullis({
      identityAssertions: { issuer: ISSUER, audience: AUDIENCE, jwks: await signer.publicJwks() },
      rateLimit: { limiter: createRateLimiter(), limits: [{ name: 'per-user', key: ['sub'], limit: 1, period: '1h', onStoreFailure: 'closed' }] },
    });
    const router = express.Router();
    router.use(auth);
    router.get('/orders', (request, response) => {
      response.json({ subject: identityOf(request).subject });
    });
    const app = express();
    app.use(auth);
    app.use('/v1', router);
    app.use(problemHandler());
    const listening = await listen(createServer(app));

    const first = await fetch(`${listening.url}/v1/orders`, { headers: { 'x-portcullis-identity': await assertion('/v1/orders') } });
    const second = await fetch(`${listening.url}/v1/orders`, { headers: { 'x-portcullis-identity': await assertion('/v1/orders') } });

    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ subject: 'reader' });
    expect(second.status).toBe(429);
  });
});

describe('unavailable keys log', () => {
  const signer = new IdentityAssertionSigner({ seed: randomBytes(32), issuer: ISSUER, audience: AUDIENCE });

  it('logs one line per interval', async () => {
    const down = await listen(
      createServer((_request, response) => {
        response.statusCode = 500;
        response.end();
      }),
    );
    const warnings: Array<{ details: Record<string, unknown>; message: string | undefined }> = [];
    const logger = { info: () => undefined, error: () => undefined, warn: (details: object, message?: string) => warnings.push({ details: details as Record<string, unknown>, message }) };
    const outbound = { allowHttp: true, allowedPorts: [down.port], allowedHosts: [{ name: '127.0.0.1', allowInternal: true }] };
    const app = express();
    app.use(portcullis({ identityAssertions: { issuer: ISSUER, audience: AUDIENCE, jwksUrl: `${down.url}/jwks.json`, outbound }, logger }));
    app.use(problemHandler());
    const listening = await listen(createServer(app));

    const statuses: number[] = [];
    for (let request = 0; request < 20; request += 1) {
      const assertion = await signer.sign(reader, { method: 'GET', target: '/orders', requestId: randomUUID() });
      statuses.push((await fetch(`${listening.url}/orders`, { headers: { 'x-portcullis-identity': assertion } })).status);
    }

    expect(statuses).toEqual(Array.from({ length: 20 }, () => 503));
    const unavailable = () => warnings.filter((warning) => warning.message === 'verification keys unavailable');
    expect(unavailable()).toHaveLength(1);

    // The next line, one interval later, counts the requests left out.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 5000 });
    try {
      const assertion = await signer.sign(reader, { method: 'GET', target: '/orders', requestId: randomUUID() });
      expect((await fetch(`${listening.url}/orders`, { headers: { 'x-portcullis-identity': assertion } })).status).toBe(503);
    } finally {
      vi.useRealTimers();
    }
    expect(unavailable()).toHaveLength(2);
    expect(unavailable()[1]?.details['suppressedSinceLastLog']).toBe(19);
  });
});
