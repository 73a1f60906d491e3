import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { runCli } from '../support/cli.js';
import { PKCE_CHALLENGE, PKCE_VERIFIER, authorizationUrl, authorize, callApi, pkceAuthorizationRequest, publicClient } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { UserAgent } from '../support/user-agent.js';

const VERIFIER = PKCE_VERIFIER;

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

  it('rejects the plain PKCE method', async () => {
    const response = await fetch(authorizationUrl(server, { code_challenge_method: 'plain', code_challenge: VERIFIER }), {
      redirect: 'manual',
    });

    const location = new URL(response.headers.get('location') ?? '');
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('error_description')).toMatch(/code_challenge_method/);
  });

  it('rejects a challenge of another length', async () => {
    const hexDigest = 'a'.repeat(64);
    for (const resource of [undefined, `${server.issuer}/api`]) {
      const response = await fetch(authorizationUrl(server, { code_challenge: hexDigest, resource }), { redirect: 'manual' });

      const location = new URL(response.headers.get('location') ?? '');
      expect(location.pathname, `resource ${resource}`).toBe(new URL(server.demoRedirectUri).pathname);
      expect(location.searchParams.get('error'), `resource ${resource}`).toBe('invalid_request');
      expect(location.searchParams.get('error_description'), `resource ${resource}`).toMatch(/code_challenge .* 43 characters, not 64/);
    }
  });

  it('rejects a challenge no hash encodes', async () => {
    // 43 characters, but not base64url of 32 bytes: '.' and '~' are no
    // base64url digits, and the last digit of 32 bytes has its two low bits clear.
    const challenges = [`${PKCE_CHALLENGE.slice(0, -1)}N`, `${PKCE_CHALLENGE.slice(0, -1)}.`, `~${PKCE_CHALLENGE.slice(1)}`];
    for (const challenge of challenges) {
      const response = await fetch(authorizationUrl(server, { code_challenge: challenge }), { redirect: 'manual' });

      const location = new URL(response.headers.get('location') ?? '');
      expect(location.pathname, challenge).toBe(new URL(server.demoRedirectUri).pathname);
      expect(location.searchParams.get('error'), challenge).toBe('invalid_request');
      expect(location.searchParams.get('error_description'), challenge).toMatch(/not the base64url encoding of a SHA-256 hash/);
    }
  });

  it('rejects such a challenge when pushed', async () => {
    const response = await fetch(`${server.url}/oauth/par`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: server.demoClientId,
        response_type: 'code',
        redirect_uri: server.demoRedirectUri,
        scope: 'openid orders:read',
        code_challenge: 'a'.repeat(64),
        code_challenge_method: 'S256',
      }),
    });

    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/43 characters, not 64/) });
  });

  it('rejects a wrong code verifier', async () => {
    const { callbackUrl } = await authorize(server, config, user);

    const response = await redeem(callbackUrl, VERIFIER);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_grant' });
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

  it('denies a request whose API scopes are all withheld', async () => {
    const { callbackUrl } = await authorize(server, config, { ...user, scope: 'openid admin' });

    expect(callbackUrl.searchParams.get('code')).toBeNull();
    expect(callbackUrl.searchParams.get('error')).toBe('access_denied');
    expect(callbackUrl.searchParams.get('error_description')).toContain('requested scopes require: admin');
    expect(callbackUrl.searchParams.get('iss')).toBe(server.url);
  });

  it('denies withheld scopes after an earlier grant', async () => {
    const agent = new UserAgent(server.url);
    const first = await authorize(server, config, { ...user, scope: 'openid orders:read admin', agent });
    const firstTokens = (await (await redeem(first.callbackUrl, first.codeVerifier)).json()) as { scope: string };
    expect(firstTokens.scope.split(' ')).toContain('orders:read');
    expect(firstTokens.scope.split(' ')).not.toContain('admin');

    const { callbackUrl } = await authorize(server, config, { ...user, scope: 'openid admin', agent });

    expect(callbackUrl.searchParams.get('code')).toBeNull();
    expect(callbackUrl.searchParams.get('error')).toBe('access_denied');
  });

  it('grants admin once the role is added', async () => {
    const promoted = await createUser(server, 'policy_promoted');
    const agent = new UserAgent(server.url);
    const scope = 'openid orders:read admin';
    const first = await authorize(server, config, { ...promoted, scope, agent });
    const firstTokens = (await (await redeem(first.callbackUrl, first.codeVerifier)).json()) as { scope: string };
    expect(firstTokens.scope.split(' ')).not.toContain('admin');

    const roles = await runCli(['users', 'roles', promoted.username, '--role', 'admin', '--data-dir', server.dataDir]);
    expect(roles.code, roles.stderr).toBe(0);

    // The same browser session keeps the grant that rejected admin.
    const second = await authorize(server, config, { ...promoted, scope, agent });
    const secondTokens = (await (await redeem(second.callbackUrl, second.codeVerifier)).json()) as { access_token: string; scope: string };
    expect(secondTokens.scope.split(' ')).toContain('admin');
    expect((await callApi(server, '/admin/orders', secondTokens.access_token)).status).toBe(200);
  });

  it('lists granted scopes on prompt=consent', async () => {
    const agent = new UserAgent(server.url);
    await authorize(server, config, { ...user, scope: 'openid orders:read', agent });
    const { url } = await pkceAuthorizationRequest(config, server.demoRedirectUri, { scope: 'openid orders:read', prompt: 'consent' });

    const page = await agent.follow(url.href, server.demoRedirectUri);
    const html = await page.response.text();

    expect(html).toContain('/confirm"');
    const listed = [...html.matchAll(/<code>([^<]*)<\/code>/g)].map((match) => match[1]);
    expect(listed).toEqual(['openid', 'orders:read']);
  });

  it('allows a withheld scope beside a granted one', async () => {
    const agent = new UserAgent(server.url);
    const first = await authorize(server, config, { ...user, scope: 'openid orders:read', agent });
    expect((await redeem(first.callbackUrl, first.codeVerifier)).status).toBe(200);

    const { callbackUrl } = await authorize(server, config, { ...user, scope: 'openid orders:read admin', agent });
    expect(callbackUrl.searchParams.get('error')).toBeNull();
  });
});
