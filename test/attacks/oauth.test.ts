import { generateKeyPair } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { runCli } from '../support/cli.js';
import { PKCE_VERIFIER, authorizationUrl, authorize, callApi, publicClient } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Attacks on the authorization server: redirect URI tricks, PKCE downgrade,
 * code and refresh token replay, scope widening, client authentication and
 * cacheable token responses.
 */

const VERIFIER = PKCE_VERIFIER;

/** Redirect URI of the confidential web client registered for these tests. */
const WEB_REDIRECT_URI = 'https://client.example.test/cb';

interface CreatedClient {
  client_id: string;
  client_secret?: string;
}

let server: TestServer;
let config: client.Configuration;
let user: { username: string; password: string; id: string };
let webClient: CreatedClient;
let serviceClient: CreatedClient;

async function addClient(...args: string[]): Promise<CreatedClient> {
  const result = await runCli(['clients', 'add', '--name', 'Attack test client', '--json', '--data-dir', server.dataDir, ...args]);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as CreatedClient;
}

beforeAll(async () => {
  server = await startTestServer();
  config = await publicClient(server);
  user = await createUser(server, 'oauth_attack_user');
  webClient = await addClient('--confidential', '--redirect-uri', WEB_REDIRECT_URI);
  serviceClient = await addClient('--confidential', '--grant', 'client_credentials', '--scope', 'orders:read');
});

afterAll(async () => {
  await server.close();
});

async function tokenRequest(body: Record<string, string>, authorization?: string): Promise<Response> {
  return fetch(`${server.url}/oauth/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(authorization === undefined ? {} : { authorization }),
    },
    body: new URLSearchParams(body),
  });
}

async function redeem(callbackUrl: URL, verifier: string, redirectUri = server.demoRedirectUri): Promise<Response> {
  return tokenRequest({
    grant_type: 'authorization_code',
    code: callbackUrl.searchParams.get('code') ?? '',
    redirect_uri: redirectUri,
    code_verifier: verifier,
    client_id: server.demoClientId,
  });
}

async function refresh(refreshToken: string, extra: Record<string, string> = {}): Promise<Response> {
  return tokenRequest({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: server.demoClientId, ...extra });
}

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
}

/** Expects the AS to show its own error page: no redirect anywhere, no code. */
async function expectErrorPageFor(url: string): Promise<void> {
  const response = await fetch(url, { redirect: 'manual' });

  expect(response.status, url).toBe(400);
  expect(response.headers.get('location')).toBeNull();
  expect(response.headers.get('content-type')).toMatch(/text\/html/);
  const html = await response.text();
  expect(html).toContain('redirect_uri');
  expect(html).not.toContain('code=');
}

describe('redirect URI not checked, or checked before parsing', () => {
  it.each(['https:evil.example', 'https://evil.example/cb', '//evil.example/cb', 'https:/\\evil.example', 'https://\\evil.example/cb'])(
    'rejects %s for the web client',
    async (redirectUri) => {
      await expectErrorPageFor(authorizationUrl(server, { client_id: webClient.client_id, redirect_uri: redirectUri }));
    },
  );

  it('rejects a missing redirect URI', async () => {
    await expectErrorPageFor(authorizationUrl(server, { client_id: webClient.client_id, redirect_uri: undefined }));
  });
});

describe('redirect URI matched by prefix or after path normalisation', () => {
  it.each([
    `${WEB_REDIRECT_URI}-evil`,
    `${WEB_REDIRECT_URI}/../../logout?next=https://evil.example`,
    `${WEB_REDIRECT_URI}/.`,
    `${WEB_REDIRECT_URI}?x=1`,
    'https://client.example.test/CB',
    'https://CLIENT.example.test/cb',
    'https://client.example.test:443/cb',
    `${WEB_REDIRECT_URI}/`,
    `${WEB_REDIRECT_URI}#x`,
    'https://client.example.test/%63b',
  ])('rejects %s for the web client', async (redirectUri) => {
    await expectErrorPageFor(authorizationUrl(server, { client_id: webClient.client_id, redirect_uri: redirectUri }));
  });

  it.each([
    ['a different path', (uri: string) => `${uri}-evil`],
    ['a trailing dot segment', (uri: string) => `${uri}/.`],
    ['an added query', (uri: string) => `${uri}?x=1`],
    ['different case', (uri: string) => uri.toUpperCase()],
    ['an explicit port', (uri: string) => uri.replace('127.0.0.1:', '127.0.0.1:0')],
  ])('rejects a loopback redirect URI with %s', async (_name, mutate) => {
    await expectErrorPageFor(authorizationUrl(server, { redirect_uri: mutate(server.demoRedirectUri) }));
  });

  it('rejects a code redeemed with another redirect URI', async () => {
    const { callbackUrl, codeVerifier } = await authorize(server, config, user);

    const response = await redeem(callbackUrl, codeVerifier, `${server.demoRedirectUri}x`);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_grant' });
  });
});

describe('userinfo in the redirect URI switches the host', () => {
  it.each([
    (uri: string) => uri.replace('http://', 'http://127.0.0.1@'),
    (uri: string) => uri.replace('http://127.0.0.1:', 'http://localhost:80@evil.example:'),
    (uri: string) => uri.replace('http://127.0.0.1:', 'http://127.0.0.1:8090%25@evil.example:'),
    (uri: string) => uri.replace('http://127.0.0.1:', 'http://127.0.0.1%40evil.example:'),
  ])('rejects a loopback URI with userinfo (%#)', async (mutate) => {
    await expectErrorPageFor(authorizationUrl(server, { redirect_uri: mutate(server.demoRedirectUri) }));
  });

  it.each(['https://client.example.test@evil.example/cb', 'https://client.example.test:443@evil.example/cb', 'https://user:pass@client.example.test/cb'])(
    'rejects %s for the web client',
    async (redirectUri) => {
      await expectErrorPageFor(authorizationUrl(server, { client_id: webClient.client_id, redirect_uri: redirectUri }));
    },
  );

  it('refuses to register a redirect URI with userinfo', async () => {
    const result = await runCli(['clients', 'add', '--name', 'Sneaky', '--public', '--redirect-uri', 'https://client.example.test@evil.example/cb', '--data-dir', server.dataDir]);

    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/user name or password/);
  });
});

describe('PKCE downgrade by stripping the challenge', () => {
  it('rejects an authorization request without PKCE', async () => {
    const response = await fetch(authorizationUrl(server, { code_challenge: undefined, code_challenge_method: undefined }), { redirect: 'manual' });

    expect(response.status).toBe(303);
    const location = new URL(response.headers.get('location') ?? '');
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('error_description')).toMatch(/PKCE/);
    expect(location.searchParams.get('code')).toBeNull();
  });

  it('rejects a confidential client without PKCE too', async () => {
    const response = await fetch(authorizationUrl(server, { client_id: webClient.client_id, redirect_uri: WEB_REDIRECT_URI, code_challenge: undefined, code_challenge_method: undefined }), {
      redirect: 'manual',
    });

    const location = new URL(response.headers.get('location') ?? '');
    expect(location.origin + location.pathname).toBe(WEB_REDIRECT_URI);
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('code')).toBeNull();
  });

  it('rejects a pushed request without PKCE', async () => {
    const response = await fetch(`${server.url}/oauth/par`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(webClient.client_id, webClient.client_secret ?? '') },
      body: new URLSearchParams({ client_id: webClient.client_id, response_type: 'code', redirect_uri: WEB_REDIRECT_URI, scope: 'openid orders:read', state: 's1' }),
    });
    const payload = (await response.json()) as { error: string; error_description: string; request_uri?: string };

    expect(response.status).toBe(400);
    expect(payload.error).toBe('invalid_request');
    expect(payload.error_description).toMatch(/PKCE/);
    expect(payload.request_uri).toBeUndefined();
  });

  it('rejects a code redeemed without its verifier', async () => {
    const { callbackUrl } = await authorize(server, config, user);

    const response = await tokenRequest({
      grant_type: 'authorization_code',
      code: callbackUrl.searchParams.get('code') ?? '',
      redirect_uri: server.demoRedirectUri,
      client_id: server.demoClientId,
    });
    const payload = (await response.json()) as { error: string; access_token?: string };

    expect(response.status).toBe(400);
    expect(payload.error).toBe('invalid_grant');
    expect(payload.access_token).toBeUndefined();
  });

  it('rejects a verifier with an unknown code', async () => {
    const response = await tokenRequest(
      { grant_type: 'authorization_code', code: 'stripped-challenge-code', redirect_uri: WEB_REDIRECT_URI, code_verifier: VERIFIER },
      basic(webClient.client_id, webClient.client_secret ?? ''),
    );

    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_grant' });
  });
});

describe('authorization code redeemed twice', () => {
  it('revokes the first tokens when a code is replayed', async () => {
    const { callbackUrl, codeVerifier } = await authorize(server, config, user);

    const first = await redeem(callbackUrl, codeVerifier);
    expect(first.status).toBe(200);
    const tokens = (await first.json()) as { access_token: string; refresh_token: string };
    expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(200);

    const replay = await redeem(callbackUrl, codeVerifier);
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ error: 'invalid_grant' });

    expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(401);
    const refreshed = await refresh(tokens.refresh_token);
    expect(refreshed.status).toBe(400);
    expect(await refreshed.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('lets only one of two parallel code exchanges succeed', async () => {
    const { callbackUrl, codeVerifier } = await authorize(server, config, user);

    const responses = await Promise.all([redeem(callbackUrl, codeVerifier), redeem(callbackUrl, codeVerifier)]);
    const statuses = responses.map((response) => response.status).sort();
    expect(statuses).toEqual([200, 400]);
  });
});

describe('refresh token reuse and parallel refresh', () => {
  it('revokes the grant when a refresh token is reused', async () => {
    const { callbackUrl, codeVerifier } = await authorize(server, config, user);
    const tokens = (await (await redeem(callbackUrl, codeVerifier)).json()) as { access_token: string; refresh_token: string };
    expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(200);

    const rotated = (await (await refresh(tokens.refresh_token)).json()) as { access_token: string; refresh_token: string };
    expect(rotated.refresh_token).not.toBe(tokens.refresh_token);

    const reuse = await refresh(tokens.refresh_token);
    expect(reuse.status).toBe(400);
    expect(await reuse.json()).toMatchObject({ error: 'invalid_grant' });

    expect((await refresh(rotated.refresh_token)).status).toBe(400);
    expect((await callApi(server, '/orders', rotated.access_token)).status).toBe(401);
    expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(401);
  });

  it('lets at most one of ten parallel refreshes succeed', async () => {
    const { callbackUrl, codeVerifier } = await authorize(server, config, user);
    const tokens = (await (await redeem(callbackUrl, codeVerifier)).json()) as { refresh_token: string };

    const responses = await Promise.all(Array.from({ length: 10 }, () => refresh(tokens.refresh_token)));
    const succeeded = responses.filter((response) => response.status === 200);
    expect(succeeded.length).toBeLessThanOrEqual(1);
    for (const response of responses.filter((candidate) => candidate.status !== 200)) {
      expect(response.status).toBe(400);
    }
  });
});

describe('code and refresh token presented by another client', () => {
  let otherClient: CreatedClient;

  beforeAll(async () => {
    otherClient = await addClient('--public', '--redirect-uri', server.demoRedirectUri);
  });

  it('rejects the code and keeps it for its client', async () => {
    const { callbackUrl, codeVerifier } = await authorize(server, config, user);
    const stolen = await tokenRequest({
      grant_type: 'authorization_code',
      code: callbackUrl.searchParams.get('code') ?? '',
      redirect_uri: server.demoRedirectUri,
      code_verifier: codeVerifier,
      client_id: otherClient.client_id,
    });

    expect(stolen.status).toBe(400);
    expect(await stolen.json()).toMatchObject({ error: 'invalid_grant' });
    expect((await redeem(callbackUrl, codeVerifier)).status).toBe(200);
  });

  it('rejects the refresh token and keeps it for its client', async () => {
    const { callbackUrl, codeVerifier } = await authorize(server, config, user);
    const tokens = (await (await redeem(callbackUrl, codeVerifier)).json()) as { access_token: string; refresh_token: string };

    const stolen = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: otherClient.client_id });
    expect(stolen.status).toBe(400);
    expect(await stolen.json()).toMatchObject({ error: 'invalid_grant' });

    expect((await refresh(tokens.refresh_token)).status).toBe(200);
    expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(200);
  });

  it('describes the refresh token to its client only', async () => {
    const { callbackUrl, codeVerifier } = await authorize(server, config, user);
    const tokens = (await (await redeem(callbackUrl, codeVerifier)).json()) as { refresh_token: string };
    const introspect = async (body: Record<string, string>, authorization?: string) => {
      const response = await fetch(`${server.url}/oauth/introspect`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization === undefined ? {} : { authorization }) },
        body: new URLSearchParams({ token: tokens.refresh_token, ...body }),
      });
      expect(response.status).toBe(200);
      return (await response.json()) as { active: boolean };
    };

    expect((await introspect({ client_id: otherClient.client_id })).active).toBe(false);
    expect((await introspect({}, basic(webClient.client_id, webClient.client_secret ?? ''))).active).toBe(false);
    expect((await introspect({ client_id: server.demoClientId, token_type_hint: 'access_token' })).active).toBe(true);
  });
});

describe('scope widened on refresh', () => {
  async function narrowRefreshToken(): Promise<string> {
    const { callbackUrl, codeVerifier } = await authorize(server, config, { ...user, scope: 'openid offline_access orders:read' });
    return ((await (await redeem(callbackUrl, codeVerifier)).json()) as { refresh_token: string }).refresh_token;
  }

  it('rejects a refresh that asks for an ungranted scope', async () => {
    const response = await refresh(await narrowRefreshToken(), { scope: 'orders:read admin' });

    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_scope' });
  });

  it('ignores a broader code sent along with a refresh', async () => {
    const narrow = await narrowRefreshToken();
    const broad = await authorize(server, config, { ...user, scope: 'openid offline_access orders:read orders:write' });

    const response = await refresh(narrow, { code: broad.callbackUrl.searchParams.get('code') ?? '', code_verifier: broad.codeVerifier });
    if (response.status === 200) {
      expect(((await response.json()) as { scope: string }).scope).toBe('orders:read');
    } else {
      expect(response.status).toBe(400);
    }

    const broadRedeemed = await redeem(broad.callbackUrl, broad.codeVerifier);
    expect(broadRedeemed.status).toBe(200);
  });
});

describe('client credentials without the secret', () => {
  it('rejects missing, empty and wrong secrets', async () => {
    const attempts: Array<[string, Record<string, string>, string | undefined, number, string]> = [
      ['no secret', { grant_type: 'client_credentials', client_id: serviceClient.client_id }, undefined, 401, 'invalid_client'],
      ['empty secret in body', { grant_type: 'client_credentials', client_id: serviceClient.client_id, client_secret: '' }, undefined, 401, 'invalid_client'],
      ['wrong secret in body', { grant_type: 'client_credentials', client_id: serviceClient.client_id, client_secret: 'wrong' }, undefined, 401, 'invalid_client'],
      ['secret in body', { grant_type: 'client_credentials', client_id: serviceClient.client_id, client_secret: serviceClient.client_secret ?? '' }, undefined, 401, 'invalid_client'],
      ['wrong secret', { grant_type: 'client_credentials' }, basic(serviceClient.client_id, 'wrong'), 401, 'invalid_client'],
      ['empty basic secret', { grant_type: 'client_credentials' }, basic(serviceClient.client_id, ''), 401, 'invalid_client'],
      ['stand-in guess', { grant_type: 'client_credentials' }, basic(serviceClient.client_id, 'x'.repeat(43)), 401, 'invalid_client'],
    ];

    for (const [name, body, authorization, status, error] of attempts) {
      const response = await tokenRequest(body, authorization);
      const payload = (await response.json()) as { error: string; access_token?: string };
      expect(response.status, name).toBe(status);
      expect(payload.error, name).toBe(error);
      expect(payload.access_token, name).toBeUndefined();
      expect(response.headers.get('www-authenticate'), name).toMatch(/^Basic /);
    }
  });

  it.each([
    ['another scheme', 'Bearer abc'],
    ['no credentials', 'Basic'],
    ['no colon', `Basic ${Buffer.from('abc').toString('base64')}`],
    ['no base64', 'Basic !!!'],
    ['a bad percent-encoding', `Basic ${Buffer.from('%zz:x').toString('base64')}`],
  ])('rejects an Authorization header with %s as a failed authentication', async (_name, authorization) => {
    const response = await tokenRequest({ grant_type: 'client_credentials' }, authorization);
    const payload = (await response.json()) as { error: string; error_description: string };

    expect(response.status).toBe(401);
    expect(payload.error).toBe('invalid_client');
    expect(payload.error_description).toBe('client authentication failed');
    expect(response.headers.get('www-authenticate')).toMatch(/^Basic /);
  });

  it('challenges a Basic client that sent an assertion', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const assertionConfig = await client.discovery(new URL(server.issuer), serviceClient.client_id, undefined, client.PrivateKeyJwt(privateKey), {
      execute: [client.allowInsecureRequests],
    });

    const failure = await client.clientCredentialsGrant(assertionConfig, { scope: 'orders:read' }).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(client.WWWAuthenticateChallengeError);
  });

  it('sends no Basic challenge to a public client', async () => {
    // openid-client reads the error from the body only when no challenge came with it.
    const removed = await publicClient(server, 'removed-public-client');

    const failure = await client.refreshTokenGrant(removed, 'anything').catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(client.ResponseBodyError);
    expect((failure as client.ResponseBodyError).error).toBe('invalid_client');
  });

  it('keeps public clients off the grant', async () => {
    const response = await tokenRequest({ grant_type: 'client_credentials', client_id: server.demoClientId });
    expect(response.status).toBe(400);
    const payload = (await response.json()) as { error: string; access_token?: string };
    expect(payload.error).toBe('unauthorized_client');
    expect(payload.access_token).toBeUndefined();
  });

  it('rejects an empty Basic secret on introspection', async () => {
    const response = await fetch(`${server.url}/oauth/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(serviceClient.client_id, '') },
      body: new URLSearchParams({ token: 'anything' }),
    });

    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: string }).error).toBe('invalid_client');
    expect(response.headers.get('www-authenticate')).toMatch(/^Basic /);
  });

  it('authenticates confidential clients on the refresh grant', async () => {
    const response = await tokenRequest({ grant_type: 'refresh_token', refresh_token: 'anything', client_id: webClient.client_id });

    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: string }).error).toBe('invalid_client');
  });

  it('rejects a refresh without client authentication', async () => {
    const webConfig = await client.discovery(new URL(server.issuer), webClient.client_id, undefined, client.ClientSecretBasic(webClient.client_secret ?? ''), {
      execute: [client.allowInsecureRequests],
    });
    const { callbackUrl, codeVerifier, state } = await authorize(server, webConfig, { ...user, redirectUri: WEB_REDIRECT_URI, scope: 'openid offline_access orders:read' });
    const tokens = await client.authorizationCodeGrant(webConfig, callbackUrl, { pkceCodeVerifier: codeVerifier, expectedState: state });
    expect(tokens.refresh_token).toBeDefined();

    const response = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token ?? '' });
    const payload = (await response.json()) as { error: string; error_description: string; access_token?: string };

    expect(response.status).toBe(401);
    expect(payload.error).toBe('invalid_client');
    expect(payload.error_description).toBe('client authentication is missing');
    expect(payload.access_token).toBeUndefined();
    expect(response.headers.get('www-authenticate')).toMatch(/^Basic /);
  });

  it('offers no dynamic client registration', async () => {
    const discovery = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(discovery['registration_endpoint']).toBeUndefined();

    const response = await fetch(`${server.url}/oauth/reg`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"redirect_uris":["https://evil.example/cb"]}' });
    expect(response.status).toBe(404);
  });
});

describe('token responses cached by intermediaries', () => {
  it('sends no-store on token responses', async () => {
    const { callbackUrl, codeVerifier } = await authorize(server, config, user);

    const response = await redeem(callbackUrl, codeVerifier);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toContain('no-store');
    expect(response.headers.get('pragma')).toBe('no-cache');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-powered-by')).toBeNull();
    expect(response.headers.get('server')).toBeNull();
  });

  it('sends no-store on client credentials responses', async () => {
    const response = await tokenRequest({ grant_type: 'client_credentials', scope: 'orders:read' }, basic(serviceClient.client_id, serviceClient.client_secret ?? ''));

    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toContain('no-store');
    expect(response.headers.get('pragma')).toBe('no-cache');
  });

  it('sends HSTS behind an https issuer', async () => {
    // Clients reach the issuer over https through a proxy that ends TLS, so
    // the test calls the server behind that proxy directly.
    const deployment = await startTestServer({ issuer: 'https://gw.example.test' });
    try {
      const result = await runCli(['clients', 'add', '--name', 'HSTS test client', '--json', '--confidential', '--grant', 'client_credentials', '--scope', 'orders:read', '--data-dir', deployment.dataDir]);
      const service = JSON.parse(result.stdout) as CreatedClient;
      const tokenResponse = await fetch(`${deployment.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(service.client_id, service.client_secret ?? '') },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'orders:read' }),
      });
      const accessToken = ((await tokenResponse.clone().json()) as { access_token: string }).access_token;

      const responses: Array<[string, Response]> = [
        ['token', tokenResponse],
        ['token error', await fetch(`${deployment.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=nothing' })],
        ['discovery', await fetch(`${deployment.url}/.well-known/openid-configuration`)],
        ['gateway', await fetch(`${deployment.url}/api/orders`, { headers: { authorization: `Bearer ${accessToken}` } })],
        ['gateway without a token', await fetch(`${deployment.url}/api/orders`)],
        ['unknown path', await fetch(`${deployment.url}/nowhere`)],
      ];

      expect(tokenResponse.status).toBe(200);
      for (const [name, response] of responses) {
        expect(response.headers.get('strict-transport-security'), name).toMatch(/^max-age=\d+/);
        expect(response.headers.get('x-content-type-options'), name).toBe('nosniff');
        expect(response.headers.get('server'), name).toBeNull();
      }
    } finally {
      await deployment.close();
    }
  });
});
