import * as client from 'openid-client';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { generateApiKey } from '../../src/core/api-keys/format.js';
import { AccountRepository } from '../../src/store/account-repository.js';
import { ApiKeyRepository } from '../../src/store/api-key-repository.js';
import { OidcAdapter } from '../../src/store/oidc-adapter.js';
import { createUser } from '../support/accounts.js';
import { authorize, callApi, openSignInPage, publicClient } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { UserAgent, formEndingWith } from '../support/user-agent.js';

/**
 * Every surface checked against the headers the OWASP Secure Headers Project
 * lists as active: pages, gateway responses, authorization server endpoints
 * and problem documents, including a 500.
 */

/** Header values every response must carry exactly. */
const REQUIRED_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
  'x-permitted-cross-domain-policies': 'none',
  'x-dns-prefetch-control': 'off',
};

/** Headers that name the server software or its version. */
const BANNER_HEADERS = ['server', 'x-powered-by', 'x-aspnet-version', 'x-aspnetmvc-version', 'x-runtime', 'x-version'];

let server: TestServer;
let user: { username: string; password: string };
let accessToken: string;
let tokenResponse: Response;

beforeAll(async () => {
  server = await startTestServer();
  user = await createUser(server, 'headers_user');
  const config = await publicClient(server);
  const { callbackUrl, codeVerifier } = await authorize(server, config, user);
  tokenResponse = await fetch(`${server.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: callbackUrl.searchParams.get('code') ?? '',
      redirect_uri: server.demoRedirectUri,
      code_verifier: codeVerifier,
      client_id: server.demoClientId,
    }),
  });
  accessToken = ((await tokenResponse.clone().json()) as { access_token: string }).access_token;
});

afterAll(async () => {
  await server.close();
});

afterEach(() => {
  vi.restoreAllMocks();
});

function expectSecureHeaders(response: Response, label: string): void {
  for (const [name, value] of Object.entries(REQUIRED_HEADERS)) {
    expect(response.headers.get(name), `${label}: ${name}`).toBe(value);
  }
  expect(response.headers.get('content-security-policy'), label).toContain("frame-ancestors 'none'");
  expect(response.headers.get('content-security-policy'), label).toContain("default-src 'none'");
  expect(response.headers.get('permissions-policy'), label).toContain('camera=()');
  for (const name of BANNER_HEADERS) {
    expect(response.headers.get(name), `${label}: ${name}`).toBeNull();
  }
}

function expectNoStore(response: Response, label: string): void {
  expect(response.headers.get('cache-control'), label).toContain('no-store');
}

/** Opens the sign-in page, signs in, and returns both pages' responses. */
async function loginAndConsentPages(): Promise<{ login: Response; consent: Response }> {
  const config = await publicClient(server);
  const agent = new UserAgent(server.url);
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: server.demoRedirectUri,
    scope: 'openid orders:read',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  const login = (await agent.follow(url.href)).response;
  const loginHtml = await login.clone().text();
  const consent = (await agent.submit(formEndingWith(loginHtml, '/login'), { username: user.username, password: user.password })).response;
  return { login, consent };
}

describe('pages', () => {
  it('covers sign-in, consent and registration', async () => {
    const { login, consent } = await loginAndConsentPages();
    expect(await consent.clone().text()).toContain('/confirm"');
    const register = await fetch(`${server.url}/register`);

    for (const [label, response] of [['login', login], ['consent', consent], ['register', register]] as const) {
      expectSecureHeaders(response, label);
      expectNoStore(response, label);
      expect(response.headers.get('content-security-policy'), label).toContain("form-action 'self'");
    }
  });

  it('lets browsers cache only the stylesheet', async () => {
    const { login } = await loginAndConsentPages();
    const stylesheet = /href="([^"]+\.css)"/.exec(await login.text())?.[1];
    expect(stylesheet).toBeDefined();

    const response = await fetch(new URL(stylesheet ?? '', server.url));

    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('public, max-age=3600');
    expectSecureHeaders(response, 'stylesheet');
  });
});

describe('API responses', () => {
  it('covers gateway responses', async () => {
    const responses: Array<[string, Response]> = [
      ['gateway 200', await callApi(server, '/orders', accessToken)],
      ['gateway 401', await callApi(server, '/orders', undefined)],
      ['gateway 404', await callApi(server, '/undeclared', accessToken)],
      ['unknown path', await fetch(`${server.url}/nowhere`)],
      ['API keys', await callApi(server, '/keys', accessToken)],
    ];

    for (const [label, response] of responses) {
      expectSecureHeaders(response, label);
      expectNoStore(response, label);
    }
  });

  it('covers oversized request headers', async () => {
    // Node.js rejects these before Fastify receives the request.
    const response = await fetch(`${server.url}/api/orders`, { headers: { 'x-padding': 'a'.repeat(20_000) } });

    expect(response.status).toBe(431);
    expectSecureHeaders(response, '431');
    expectNoStore(response, '431');
  });

  it('covers authorization server endpoints', async () => {
    const responses: Array<[string, Response]> = [
      ['token', tokenResponse],
      ['token error', await fetch(`${server.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=nothing' })],
      ['userinfo', await fetch(`${server.url}/oauth/userinfo`, { headers: { authorization: 'Bearer invalid' } })],
      ['discovery', await fetch(`${server.url}/.well-known/openid-configuration`)],
      ['jwks', await fetch(`${server.url}/.well-known/jwks.json`)],
      ['authorize error', await fetch(`${server.url}/oauth/authorize?client_id=nobody`, { redirect: 'manual' })],
    ];

    for (const [label, response] of responses) {
      expectSecureHeaders(response, label);
      expectNoStore(response, label);
    }
    expect(tokenResponse.headers.get('pragma')).toBe('no-cache');
  });
});

describe('failures', () => {
  const STORE_FAILURE = 'SQLITE_IOERR: disk I/O error at /var/lib/portcullis/portcullis.sqlite';

  function expectBareInternalError(body: Record<string, unknown>, text: string): void {
    expect(Object.keys(body).sort()).toEqual(['code', 'detail', 'request_id', 'status', 'title', 'type']);
    expect(body['code']).toBe('internal_error');
    expect(body['detail']).toBe('The server failed to process the request. Quote the request_id when reporting it.');
    expect(text).not.toContain('SQLITE');
    expect(text).not.toContain('/var/lib');
    expect(text).not.toMatch(/\bat .+:\d+/);
  }

  it('answers a gateway store failure with a bare 500 problem', async () => {
    vi.spyOn(ApiKeyRepository.prototype, 'findById').mockRejectedValue(new Error(STORE_FAILURE));

    const response = await fetch(`${server.url}/api/orders`, { headers: { 'x-api-key': generateApiKey('live').value } });
    const text = await response.text();

    expect(response.status).toBe(500);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expectSecureHeaders(response, '500');
    expectNoStore(response, '500');
    const body = JSON.parse(text) as Record<string, unknown>;
    expectBareInternalError(body, text);
    expect(response.headers.get('x-request-id')).toBe(body['request_id']);
    expect(server.logs.some((line) => line.includes(STORE_FAILURE) && line.includes(String(body['request_id'])))).toBe(true);
  });

  it('answers a sign-in store failure without internals', async () => {
    const { agent, html } = await openSignInPage(server);
    vi.spyOn(AccountRepository.prototype, 'findByUsername').mockRejectedValue(new Error(STORE_FAILURE));

    const { response } = await agent.submit(formEndingWith(html, '/login'), { username: user.username, password: user.password });
    const text = await response.text();

    expect(response.status).toBe(500);
    expectSecureHeaders(response, 'sign-in 500');
    expect(text).not.toContain('SQLITE');
    expect(text).not.toContain('/var/lib');
    expect(text).not.toMatch(/\bat .+:\d+/);
  });

  it('answers a sign-in during a storage outage with 503', async () => {
    const { agent, html } = await openSignInPage(server);
    const outage = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    vi.spyOn(AccountRepository.prototype, 'findByUsername').mockRejectedValue(outage);

    const { response } = await agent.submit(formEndingWith(html, '/login'), { username: user.username, password: user.password });
    const text = await response.text();

    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
    expectSecureHeaders(response, 'sign-in 503');
    expect(text).toContain('service unavailable');
    expect(text).not.toContain('ECONNREFUSED');
  });

  it('answers a token endpoint store failure without internals', async () => {
    vi.spyOn(OidcAdapter.prototype, 'find').mockRejectedValue(new Error(STORE_FAILURE));

    const response = await fetch(`${server.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'x'.repeat(43), client_id: server.demoClientId }),
    });
    const text = await response.text();

    expect(response.status).toBe(500);
    expect((JSON.parse(text) as { error: string }).error).toBe('server_error');
    expectSecureHeaders(response, 'token 500');
    expect(text).not.toContain('SQLITE');
    expect(text).not.toMatch(/\bat .+:\d+/);
  });
});
