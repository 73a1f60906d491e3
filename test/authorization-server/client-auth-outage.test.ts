import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { ClientAuthThrottle } from '../../src/core/rate-limit/client-auth-throttle.js';
import { MemoryRateLimitStore } from '../../src/core/rate-limit/memory-store.js';
import { ClientRepository } from '../../src/store/client-repository.js';
import { runCli } from '../support/cli.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Portcullis applies rate limits, counts failed client authentications and
 * checks hashed client secrets before oidc-provider receives a request. When
 * its store fails there, the OAuth client must get the RFC 6749
 * `server_error` that oidc-provider sends for its own store failures, not a
 * problem document it cannot read.
 */

/** Message of a Redis or PostgreSQL connection failure, as node:net reports it. */
const OUTAGE_MESSAGE = 'connect ECONNREFUSED 127.0.0.1:6379';

function outageError(): Error {
  return Object.assign(new Error(OUTAGE_MESSAGE), { code: 'ECONNREFUSED' });
}

const FAILURES = [
  { step: 'throttle', fail: () => vi.spyOn(ClientAuthThrottle.prototype, 'begin').mockRejectedValue(outageError()) },
  { step: 'secret check', fail: () => vi.spyOn(ClientRepository.prototype, 'providerSecret').mockRejectedValue(outageError()) },
] as const;

const ENDPOINTS = [
  { path: '/oauth/token', body: { grant_type: 'client_credentials', scope: 'orders:read' } },
  { path: '/oauth/introspect', body: { token: 'x'.repeat(43) } },
  { path: '/oauth/revoke', body: { token: 'x'.repeat(43) } },
] as const;

let server: TestServer;
let basic: string;

beforeAll(async () => {
  server = await startTestServer();
  const result = await runCli([
    'clients', 'add', '--name', 'Service', '--json', '--data-dir', server.dataDir,
    '--confidential', '--grant', 'client_credentials', '--scope', 'orders:read',
  ]);
  expect(result.code, result.stderr).toBe(0);
  const created = JSON.parse(result.stdout) as { client_id: string; client_secret: string };
  basic = `Basic ${Buffer.from(`${created.client_id}:${created.client_secret}`).toString('base64')}`;
});

afterAll(async () => {
  await server.close();
});

afterEach(() => {
  vi.restoreAllMocks();
});

function post(path: string, body: Record<string, string>): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(body),
  });
}

describe.each(FAILURES)('client authentication $step outage', ({ fail }) => {
  it.each(ENDPOINTS)('returns server_error from $path', async ({ path, body }) => {
    fail();

    const response = await post(path, body);
    const text = await response.text();

    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    const error = JSON.parse(text) as Record<string, unknown>;
    expect(error['error']).toBe('server_error');
    expect(error['type']).toBeUndefined();
    expect(text).not.toContain('ECONNREFUSED');
    expect(server.logs.some((line) => line.includes(OUTAGE_MESSAGE))).toBe(true);
  });
});

describe('client authentication outage with a malformed Content-Type', () => {
  it('returns server_error from /oauth/token', async () => {
    // Fastify cannot parse this Content-Type, so the request reaches the error handler first.
    vi.spyOn(ClientAuthThrottle.prototype, 'begin').mockRejectedValue(outageError());

    const response = await fetch(`${server.url}/oauth/token`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': ';' },
      body: 'grant_type=client_credentials',
    });

    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
    expect(((await response.json()) as Record<string, unknown>)['error']).toBe('server_error');
  });
});

describe('rate limit store outage', () => {
  it('returns server_error from /oauth/par', async () => {
    // The sign-in limit on this endpoint fails closed when its store fails.
    vi.spyOn(MemoryRateLimitStore.prototype, 'consumeSync').mockImplementation(() => {
      throw outageError();
    });

    const response = await post('/oauth/par', {
      response_type: 'code',
      redirect_uri: 'http://127.0.0.1:9876/callback',
      scope: 'openid',
      code_challenge: 'x'.repeat(43),
      code_challenge_method: 'S256',
    });
    const text = await response.text();

    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect((JSON.parse(text) as Record<string, unknown>)['error']).toBe('server_error');
    expect(text).not.toContain('ECONNREFUSED');
  });

  it('keeps a problem document for /oauth/authorize', async () => {
    vi.spyOn(MemoryRateLimitStore.prototype, 'consumeSync').mockImplementation(() => {
      throw outageError();
    });

    const response = await fetch(`${server.url}/oauth/authorize?client_id=${server.demoClientId}&response_type=code`);

    expect(response.status).toBe(503);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });
});

describe('client authentication failure', () => {
  it('returns 500 server_error for a bug', async () => {
    vi.spyOn(ClientRepository.prototype, 'providerSecret').mockRejectedValue(new TypeError('secret lookup bug'));

    const response = await post('/oauth/token', { grant_type: 'client_credentials', scope: 'orders:read' });
    const text = await response.text();

    expect(response.status).toBe(500);
    expect(response.headers.get('retry-after')).toBeNull();
    expect((JSON.parse(text) as Record<string, unknown>)['error']).toBe('server_error');
    expect(text).not.toContain('secret lookup bug');
  });

  it('issues tokens after the outage', async () => {
    const response = await post('/oauth/token', { grant_type: 'client_credentials', scope: 'orders:read' });

    expect(response.status).toBe(200);
    expect(typeof ((await response.json()) as Record<string, unknown>)['access_token']).toBe('string');
  });
});
