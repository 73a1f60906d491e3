import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ConfigError, loadConfig } from '../../src/config/load.js';
import { writeConfigFile } from '../support/config-file.js';
import { createUser } from '../support/accounts.js';
import { callApi, obtainTokens } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Cross-origin attacks: an Origin reflected into Access-Control-Allow-Origin
 * lets any site read responses in a victim's browser, and `null` is an
 * origin anyone can produce from a sandboxed frame.
 */

const APP_ORIGIN = 'https://app.example.test';

let server: TestServer;
let token: string;

beforeAll(async () => {
  server = await startTestServer({ corsOrigins: [APP_ORIGIN] });
  token = (await obtainTokens(server, await createUser(server, 'cors_user'))).tokens.access_token;
});

afterAll(async () => {
  await server.close();
});

/** Requests a victim's browser would send from `origin`: a credentialed GET and a preflight for DELETE. */
async function crossOriginPair(path: string, origin: string): Promise<Response[]> {
  const simple = await fetch(`${server.url}${path}`, { headers: { origin, authorization: `Bearer ${token}`, cookie: 'session=victim' } });
  const preflight = await fetch(`${server.url}${path}`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'DELETE', 'access-control-request-headers': 'authorization' },
  });
  return [simple, preflight];
}

/** The OAuth endpoints that send CORS headers, each with a method it serves. */
const OAUTH_ENDPOINTS: Array<[string, string]> = [
  ['POST', '/oauth/token'],
  ['GET', '/oauth/userinfo'],
  ['POST', '/oauth/revoke'],
  ['POST', '/oauth/introspect'],
  ['POST', '/oauth/par'],
];

/** Returns the lower-case names in the Access-Control-Expose-Headers of `response`. */
function exposedHeaders(response: Response): string[] {
  return (response.headers.get('access-control-expose-headers') ?? '').split(',').map((name) => name.trim().toLowerCase());
}

function expectNoCorsGrant(response: Response, label: string): void {
  expect(response.headers.get('access-control-allow-origin'), label).toBeNull();
  expect(response.headers.get('access-control-allow-credentials'), label).toBeNull();
  expect(response.status, label).toBeLessThan(500);
}

describe('any Origin reflected with credentials', () => {
  it('allows the listed origin without credentials mode', async () => {
    const listed = await callApi(server, '/orders', token, { headers: { origin: APP_ORIGIN } });

    expect(listed.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(listed.headers.get('access-control-allow-credentials')).toBeNull();
    expect(listed.headers.get('vary')).toContain('Origin');
  });

  it('answers the preflight of the listed origin', async () => {
    const response = await fetch(`${server.url}/api/orders`, {
      method: 'OPTIONS',
      headers: { origin: APP_ORIGIN, 'access-control-request-method': 'DELETE', 'access-control-request-headers': 'authorization' },
    });

    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(response.headers.get('access-control-allow-methods')).toContain('DELETE');
    expect(response.headers.get('access-control-allow-headers')).toContain('authorization');
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it.each(['https://evil.example', 'https://app.example.test.evil.example', 'https://evil.app.example.test', 'http://app.example.test', 'https://APP.example.test', 'https://app.example.test:444'])(
    'grants nothing to %s on the gateway',
    async (origin) => {
      const [simple, preflight] = await crossOriginPair('/api/orders', origin);

      expectNoCorsGrant(simple as Response, 'GET');
      expectNoCorsGrant(preflight as Response, 'OPTIONS');
      expect(simple?.headers.get('vary')).toContain('Origin');
      expect(preflight?.headers.get('vary')).toContain('Origin');
    },
  );

  it.each(['/oauth/token', '/oauth/userinfo', '/oauth/introspect', '/oauth/revoke'])('grants nothing to another origin on %s', async (path) => {
    const [simple, preflight] = await crossOriginPair(path, 'https://evil.example');

    expectNoCorsGrant(simple as Response, 'GET');
    expectNoCorsGrant(preflight as Response, 'OPTIONS');
    expect(preflight?.headers.get('vary')).toContain('Origin');
  });

  it('never pairs a wildcard with credentials on public documents', async () => {
    for (const path of ['/.well-known/openid-configuration', '/.well-known/jwks.json']) {
      const response = await fetch(`${server.url}${path}`, { headers: { origin: 'https://evil.example' } });
      expect(response.headers.get('access-control-allow-origin'), path).not.toBe('https://evil.example');
      expect(response.headers.get('access-control-allow-credentials'), path).toBeNull();
    }
  });
});

describe('CORS of the token endpoint for the listed origin', () => {
  it('keeps the grant on token errors', async () => {
    const response = await fetch(`${server.url}/oauth/token`, {
      method: 'POST',
      headers: { origin: APP_ORIGIN, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=nothing',
    });

    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it.each([
    ['GET', '/oauth/token', 405],
    ['PROPFIND', '/oauth/token', 405],
    ['PUT', '/oauth/revoke', 405],
    ['GET', '/oauth/par', 405],
    ['POST', '/oauth/token/extra', 404],
  ])('lets the listed origin read %s %s', async (method, path, status) => {
    const response = await fetch(`${server.url}${path}`, { method, headers: { origin: APP_ORIGIN } });

    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect(response.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
    expect(response.headers.get('vary')).toContain('Origin');
  });

  it.each(['/oauth/token', '/oauth/revoke', '/oauth/introspect', '/oauth/par', '/oauth/userinfo'])(
    'allows only OAuth headers on %s',
    async (path) => {
      const response = await fetch(`${server.url}${path}`, {
        method: 'OPTIONS',
        headers: { origin: APP_ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-evil, cookie, authorization' },
      });

      expect(response.status).toBe(204);
      expect(response.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
      expect(response.headers.get('access-control-allow-headers')).toBe('authorization, content-type');
      expect(response.headers.get('access-control-allow-credentials')).toBeNull();
    },
  );

  it.each(OAUTH_ENDPOINTS)('exposes rate-limit headers of %s %s', async (method, path) => {
    const response = await fetch(`${server.url}${path}`, { method, headers: { origin: APP_ORIGIN } });
    const exposed = exposedHeaders(response);

    expect(response.status).not.toBe(429);
    expect(response.headers.get('ratelimit-policy')).not.toBeNull();
    expect(exposed).toContain('ratelimit');
    expect(exposed).toContain('ratelimit-policy');
  });

  it('grants nothing to another origin on a 405', async () => {
    const response = await fetch(`${server.url}/oauth/token`, { headers: { origin: 'https://evil.example' } });

    expect(response.status).toBe(405);
    expectNoCorsGrant(response, 'GET /oauth/token');
  });
});

describe('Origin null granted credentials', () => {
  it('grants nothing to null on the gateway', async () => {
    const [simple, preflight] = await crossOriginPair('/api/orders', 'null');

    expectNoCorsGrant(simple as Response, 'GET');
    expectNoCorsGrant(preflight as Response, 'OPTIONS');
  });

  it('grants nothing to null on the token endpoint', async () => {
    const [simple, preflight] = await crossOriginPair('/oauth/token', 'null');

    expectNoCorsGrant(simple as Response, 'GET');
    expectNoCorsGrant(preflight as Response, 'OPTIONS');
  });

  it.each(['null', '*', 'https://*.example.test', 'https://app.example.test/', 'file://', 'https://APP.example.test'])('refuses %s in corsOrigins', (origin) => {
    let problems: string[] = [];
    try {
      loadConfig({ corsOrigins: [origin] }, {});
    } catch (error) {
      if (!(error instanceof ConfigError)) {
        throw error;
      }
      problems = error.problems;
    }

    expect(problems.join('\n')).toContain('corsOrigins/0');
  });

  it('refuses null in PORTCULLIS_CORS_ORIGINS', () => {
    expect(() => loadConfig({}, { PORTCULLIS_CORS_ORIGINS: `${APP_ORIGIN},null` })).toThrow(/corsOrigins\/1/);
  });
});

describe('errors sent before the gateway runs', () => {
  let limited: TestServer;

  beforeAll(async () => {
    // At two per hour, a place that the first requests use comes back only
    // after 30 minutes, so every test of this group gets a 429.
    const config = await writeConfigFile({ rateLimit: { global: { name: 'global', key: ['ip'], limit: 2, period: '1h', onStoreFailure: 'open' } } });
    limited = await startTestServer({ config, corsOrigins: [APP_ORIGIN] });
  });

  afterAll(async () => {
    await limited.close();
  });

  it('lets the listed origin read a global 429', async () => {
    const responses: Response[] = [];
    for (let attempt = 0; attempt < 3; attempt += 1) {
      responses.push(await fetch(`${limited.url}/api/orders`, { headers: { origin: APP_ORIGIN } }));
    }
    const limitedResponse = responses.at(-1) as Response;

    expect(limitedResponse.status).toBe(429);
    expect(limitedResponse.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(limitedResponse.headers.get('vary')).toContain('Origin');
    expect(limitedResponse.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('exposes the rate-limit headers to the listed origin', async () => {
    const response = await fetch(`${limited.url}/api/orders`, { headers: { origin: APP_ORIGIN } });
    const exposed = (response.headers.get('access-control-expose-headers') ?? '').split(',').map((name) => name.trim());

    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).not.toBeNull();
    expect(exposed).toContain('retry-after');
    expect(exposed).toContain('ratelimit');
    expect(exposed).toContain('ratelimit-policy');
  });

  it('grants nothing to another origin on a global 429', async () => {
    const response = await fetch(`${limited.url}/api/orders`, { headers: { origin: 'https://evil.example' } });

    expect(response.status).toBe(429);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    expect(response.headers.get('vary')).toContain('Origin');
  });

  it.each(['/oauth/token', '/oauth/revoke', '/oauth/introspect', '/oauth/par'])('lets the listed origin read a global 429 on %s', async (path) => {
    const response = await fetch(`${limited.url}${path}`, { method: 'POST', headers: { origin: APP_ORIGIN } });

    expect(response.status).toBe(429);
    expect(response.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(response.headers.get('vary')).toContain('Origin');
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it.each(OAUTH_ENDPOINTS)('exposes rate-limit headers of a 429 on %s %s', async (method, path) => {
    // The limit allows two requests, so the third gets a 429 even when this test runs alone.
    let response = await fetch(`${limited.url}${path}`, { method, headers: { origin: APP_ORIGIN } });
    for (let attempt = 0; attempt < 2 && response.status !== 429; attempt += 1) {
      response = await fetch(`${limited.url}${path}`, { method, headers: { origin: APP_ORIGIN } });
    }
    const exposed = exposedHeaders(response);

    expect(response.status).toBe(429);
    expect(response.headers.get('ratelimit')).not.toBeNull();
    expect(response.headers.get('ratelimit-policy')).not.toBeNull();
    expect(exposed).toContain('retry-after');
    expect(exposed).toContain('ratelimit');
    expect(exposed).toContain('ratelimit-policy');
  });

  it.each(['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/.well-known/jwks.json'])(
    'lets the listed origin read a global 429 on %s',
    async (path) => {
      const response = await fetch(`${limited.url}${path}`, { headers: { origin: APP_ORIGIN } });

      expect(response.status).toBe(429);
      expect(response.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
      expect(response.headers.get('vary')).toContain('Origin');
      expect(response.headers.get('access-control-allow-credentials')).toBeNull();
    },
  );

  it('denies other origins a discovery 429', async () => {
    const response = await fetch(`${limited.url}/.well-known/openid-configuration`, { headers: { origin: 'https://evil.example' } });

    expect(response.status).toBe(429);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    expect(response.headers.get('vary')).toContain('Origin');
  });

  it('grants nothing to pages on a global 429', async () => {
    const response = await fetch(`${limited.url}/register`, { headers: { origin: APP_ORIGIN } });

    expect(response.status).toBe(429);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('malformed requests from a listed origin', () => {
  it('lets the listed origin read a malformed URL error', async () => {
    const response = await callApi(server, '/orders/%ff', token, { headers: { origin: APP_ORIGIN } });

    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect(response.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(response.headers.get('vary')).toContain('Origin');
  });

  it('rejects a preflight without method as problem', async () => {
    const response = await fetch(`${server.url}/api/orders`, { method: 'OPTIONS', headers: { origin: APP_ORIGIN } });
    const problem = (await response.json()) as { code: string; detail: string };

    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect(problem.code).toBe('invalid_request');
    expect(problem.detail).toContain('Access-Control-Request-Method');
    expect(response.headers.get('access-control-allow-methods')).toBeNull();
  });
});
