import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ENDPOINT_METHODS } from '../../src/authorization-server/endpoint-methods.js';
import { defaultRateLimits } from '../../src/config/load.js';
import { writeConfigFile } from '../support/config-file.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** An origin listed in corsOrigins, for the preflights that must keep working. */
const APP_ORIGIN = 'https://app.example.test';

/** The methods tried on every endpoint. Node's fetch cannot send CONNECT or TRACE. */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];

let server: TestServer;

beforeAll(async () => {
  // Several hundred requests in a few seconds would meet the default
  // per-address limit of 100 per second on a fast machine.
  const config = await writeConfigFile({ rateLimit: { global: { ...defaultRateLimits().global, limit: 100_000 } } });
  server = await startTestServer({ corsOrigins: [APP_ORIGIN], config });
});

afterAll(async () => {
  await server.close();
});

async function send(method: string, path: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${server.url}${path}`, { method, headers, redirect: 'manual' });
}

async function expectProblem(response: Response, status: number, code: string): Promise<Record<string, unknown>> {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
  expect(response.headers.get('cache-control')).toBe('no-store');
  const body = (await response.json()) as Record<string, unknown>;
  expect(body['code']).toBe(code);
  expect(body['status']).toBe(status);
  expect(body['type']).toBe(`urn:portcullis:problem:${code.replaceAll('_', '-')}`);
  expect(body['request_id']).toBe(response.headers.get('x-request-id'));
  return body;
}

describe('method not allowed on an OAuth endpoint', () => {
  it.each([
    ['GET', '/oauth/token', 'OPTIONS, POST'],
    ['PUT', '/oauth/token', 'OPTIONS, POST'],
    ['HEAD', '/oauth/token', 'OPTIONS, POST'],
    ['GET', '/oauth/introspect', 'OPTIONS, POST'],
    ['GET', '/oauth/revoke', 'OPTIONS, POST'],
    ['POST', '/.well-known/openid-configuration', 'GET, HEAD, OPTIONS'],
    ['POST', '/.well-known/oauth-authorization-server', 'GET, HEAD, OPTIONS'],
    ['DELETE', '/.well-known/jwks.json', 'GET, HEAD, OPTIONS'],
    ['POST', '/oauth/authorize', 'GET, HEAD'],
    ['POST', '/oauth/authorize/some-uid', 'GET, HEAD'],
    ['GET', '/oauth/logout/confirm', 'POST'],
  ])('answers %s %s with 405', async (method, path, allow) => {
    const response = await send(method, path);

    expect(response.headers.get('allow')).toBe(allow);
    if (method === 'HEAD') {
      expect(response.status).toBe(405);
      expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
      return;
    }
    const body = await expectProblem(response, 405, 'method_not_allowed');
    expect(body['title']).toBe('Method not allowed');
    expect(body['detail']).toBe(`${path} does not accept ${method}. It accepts ${allow}.`);
  });

  it('matches paths as oidc-provider does', async () => {
    for (const path of ['/oauth/TOKEN', '/oauth/token/']) {
      const response = await send('GET', path);
      expect(response.status, path).toBe(405);
      expect(response.headers.get('allow'), path).toBe('OPTIONS, POST');
    }
  });
});

describe('method not allowed on any own path', () => {
  it.each([
    ['PROPFIND', '/oauth/token', 'OPTIONS, POST'],
    ['MKCOL', '/oauth/authorize/some-uid', 'GET, HEAD'],
    ['SEARCH', '/.well-known/openid-configuration', 'GET, HEAD, OPTIONS'],
    ['LOCK', '/.well-known/jwks.json', 'GET, HEAD, OPTIONS'],
    ['DELETE', '/healthz', 'GET, HEAD'],
    ['POST', '/readyz', 'GET, HEAD'],
    ['PUT', '/', 'GET, HEAD'],
    ['PATCH', '/register', 'GET, HEAD, POST'],
    ['PROPFIND', '/register', 'GET, HEAD, POST'],
    ['GET', '/interaction/some-uid/login', 'POST'],
    ['POST', '/assets/portcullis.css', 'GET, HEAD'],
    ['DELETE', '/.well-known/portcullis-identity-jwks.json', 'GET, HEAD'],
  ])('rejects %s %s with 405', async (method, path, allow) => {
    const response = await send(method, path);

    expect(response.headers.get('allow')).toBe(allow);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    const body = await expectProblem(response, 405, 'method_not_allowed');
    expect(body['detail']).toBe(`${path} does not accept ${method}. It accepts ${allow}.`);
  });

  it('returns 404 for an unknown path', async () => {
    const response = await send('PROPFIND', '/oauth/nope');

    await expectProblem(response, 404, 'not_found');
    expect(response.headers.get('allow')).toBeNull();
  });
});

describe('unknown path under the OAuth routes', () => {
  it.each([
    ['GET', '/oauth/nope'],
    ['POST', '/oauth/nope'],
    ['GET', '/oauth/token//'],
    ['GET', '/oauth/authorize/a/b'],
  ])('answers %s %s with the 404 problem', async (method, path) => {
    const response = await send(method, path);

    const body = await expectProblem(response, 404, 'not_found');
    expect(body['detail']).toBe(`No route matches ${method} ${path}.`);
    expect(response.headers.get('allow')).toBeNull();
  });
});

describe('methods each endpoint serves', () => {
  const endpoints = [...ENDPOINT_METHODS.entries()].map(([path, methods]) => [path.replace('/:uid', '/some-uid'), methods] as const);

  it.each(endpoints)('serves exactly the listed methods on %s', async (path, served) => {
    for (const method of METHODS) {
      const response = await send(method, path);
      await response.body?.cancel();
      if (served.includes(method)) {
        expect([404, 405], `${method} ${path}`).not.toContain(response.status);
      } else {
        expect(response.status, `${method} ${path}`).toBe(405);
        expect(response.headers.get('allow'), `${method} ${path}`).toBe(served.join(', '));
      }
    }
  });

  it.each(endpoints.filter(([, served]) => served.includes('OPTIONS')))('answers a plain OPTIONS on %s with Allow', async (path, served) => {
    const response = await send('OPTIONS', path);

    expect(response.status).toBe(204);
    expect(response.headers.get('allow')).toBe(served.join(', '));
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('requests that already worked', () => {
  it.each(['/oauth/token', '/oauth/introspect', '/oauth/revoke', '/oauth/par', '/oauth/userinfo'])('keeps the CORS preflight on %s', async (path) => {
    const response = await send('OPTIONS', path, { origin: APP_ORIGIN, 'access-control-request-method': 'POST' });

    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(response.headers.get('access-control-allow-methods')).toContain('POST');
    expect(response.headers.get('allow')).toBeNull();
  });

  it('keeps the preflight of a foreign origin without CORS headers', async () => {
    const response = await send('OPTIONS', '/oauth/token', { origin: 'https://evil.example', 'access-control-request-method': 'POST' });

    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
  });

  it.each(['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/.well-known/jwks.json'])('serves GET and HEAD on %s', async (path) => {
    const get = await send('GET', path);
    expect(get.status).toBe(200);
    expect(get.headers.get('content-type')).toMatch(/^application\/(jwk-set\+)?json/);

    const head = await send('HEAD', path);
    expect(head.status).toBe(200);
  });

  it('keeps the error page of the authorization endpoint', async () => {
    const response = await send('GET', '/oauth/authorize');

    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
  });

  it('keeps RFC 6749 errors on the token endpoint', async () => {
    const response = await fetch(`${server.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', client_id: server.demoClientId }),
    });

    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toBe('invalid_request');
  });

  it('keeps the sign-out page', async () => {
    const response = await send('GET', '/oauth/logout');

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
  });
});
