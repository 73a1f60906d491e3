import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { API_SCOPE, authorize, callApi, publicClient } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { UserAgent } from '../support/user-agent.js';

const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

describe('authorization server policy', () => {
  let server: TestServer;
  let config: client.Configuration;
  let user: { username: string; password: string; id: string };

  beforeAll(async () => {
    server = await startTestServer();
    config = await publicClient(server);
    user = await createUser(server, 'policy_user');
  });

  afterAll(async () => {
    await server.close();
  });

  function authorizationUrl(params: Record<string, string | undefined>): string {
    const url = new URL('/oauth/authorize', server.url);
    const defaults: Record<string, string | undefined> = {
      client_id: server.demoClientId,
      response_type: 'code',
      redirect_uri: server.demoRedirectUri,
      scope: API_SCOPE,
      state: 'state-1',
      code_challenge: CHALLENGE,
      code_challenge_method: 'S256',
    };
    for (const [name, value] of Object.entries({ ...defaults, ...params })) {
      if (value !== undefined) {
        url.searchParams.set(name, value);
      }
    }
    return url.href;
  }

  async function redeem(callbackUrl: URL, verifier: string, redirectUri = server.demoRedirectUri): Promise<Response> {
    return fetch(`${server.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: callbackUrl.searchParams.get('code') ?? '',
        redirect_uri: redirectUri,
        code_verifier: verifier,
        client_id: server.demoClientId,
      }),
    });
  }

  async function refresh(refreshToken: string): Promise<Response> {
    return fetch(`${server.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: server.demoClientId }),
    });
  }

  it('rejects a request without PKCE', async () => {
    const response = await fetch(authorizationUrl({ code_challenge: undefined, code_challenge_method: undefined }), {
      redirect: 'manual',
    });

    expect(response.status).toBe(303);
    const location = new URL(response.headers.get('location') ?? '');
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('error_description')).toMatch(/PKCE/);
    expect(location.searchParams.get('code')).toBeNull();
  });

  it('rejects the plain PKCE method', async () => {
    const response = await fetch(authorizationUrl({ code_challenge_method: 'plain', code_challenge: VERIFIER }), {
      redirect: 'manual',
    });

    const location = new URL(response.headers.get('location') ?? '');
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('error_description')).toMatch(/code_challenge_method/);
  });

  it('rejects a wrong code verifier', async () => {
    const { callbackUrl } = await authorize(server, config, user);

    const response = await redeem(callbackUrl, VERIFIER);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it.each([
    ['a different path', (uri: string) => `${uri}-evil`],
    ['a trailing dot segment', (uri: string) => `${uri}/.`],
    ['an added query', (uri: string) => `${uri}?x=1`],
    ['different case', (uri: string) => uri.toUpperCase()],
    ['an explicit port', (uri: string) => uri.replace('127.0.0.1:', '127.0.0.1:0')],
    ['user info', (uri: string) => uri.replace('http://', 'http://127.0.0.1@')],
    ['another host', () => 'https://evil.example/cb'],
    ['a scheme-relative URI', () => '//evil.example/cb'],
    ['a scheme-only URI', () => 'https:evil.example'],
    ['a backslash', () => 'https:/\\evil.example'],
  ])('rejects a redirect URI with %s', async (_name, mutate) => {
    const response = await fetch(authorizationUrl({ redirect_uri: mutate(server.demoRedirectUri) }), { redirect: 'manual' });

    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
    expect(response.headers.get('content-type')).toMatch(/text\/html/);
    expect(await response.text()).toContain('redirect_uri');
  });

  it('rejects a code redeemed with another redirect URI', async () => {
    const { callbackUrl, codeVerifier } = await authorize(server, config, user);

    const response = await redeem(callbackUrl, codeVerifier, `${server.demoRedirectUri}x`);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('revokes tokens when a code is replayed', async () => {
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

  it('revokes the grant when a refresh token is reused', async () => {
    const { callbackUrl, codeVerifier } = await authorize(server, config, user);
    const tokens = (await (await redeem(callbackUrl, codeVerifier)).json()) as { refresh_token: string };

    const rotated = (await (await refresh(tokens.refresh_token)).json()) as { access_token: string; refresh_token: string };
    expect(rotated.refresh_token).not.toBe(tokens.refresh_token);

    const reuse = await refresh(tokens.refresh_token);
    expect(reuse.status).toBe(400);
    expect(await reuse.json()).toMatchObject({ error: 'invalid_grant' });

    expect((await refresh(rotated.refresh_token)).status).toBe(400);
    expect((await callApi(server, '/orders', rotated.access_token)).status).toBe(401);
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

  it('rejects a refresh that widens the scope', async () => {
    const { callbackUrl, codeVerifier } = await authorize(server, config, { ...user, scope: 'openid offline_access orders:read' });
    const tokens = (await (await redeem(callbackUrl, codeVerifier)).json()) as { refresh_token: string };

    const response = await fetch(`${server.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: tokens.refresh_token,
        client_id: server.demoClientId,
        scope: 'orders:read admin',
      }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_scope' });
  });

  it('sends no-store on token responses', async () => {
    const { callbackUrl, codeVerifier } = await authorize(server, config, user);

    const response = await redeem(callbackUrl, codeVerifier);
    expect(response.headers.get('cache-control')).toContain('no-store');
    expect(response.headers.get('pragma')).toBe('no-cache');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-powered-by')).toBeNull();
    expect(response.headers.get('server')).toBeNull();
  });

  it('grants admin only to admin accounts', async () => {
    const adminConfig = config;
    const scope = 'openid orders:read admin';

    const { callbackUrl, codeVerifier } = await authorize(server, adminConfig, { ...user, scope });
    const userTokens = (await (await redeem(callbackUrl, codeVerifier)).json()) as { access_token: string; scope: string };
    expect(userTokens.scope.split(' ')).not.toContain('admin');
    expect((await callApi(server, '/admin/orders', userTokens.access_token)).status).toBe(403);

    const admin = await authorize(server, adminConfig, { ...server.admin, scope, agent: new UserAgent(server.url) });
    const adminTokens = (await (await redeem(admin.callbackUrl, admin.codeVerifier)).json()) as { access_token: string; scope: string };
    expect(adminTokens.scope.split(' ')).toContain('admin');
    expect((await callApi(server, '/admin/orders', adminTokens.access_token)).status).toBe(200);
  });
});
