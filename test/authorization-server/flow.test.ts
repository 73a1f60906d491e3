import { decodeJwt, decodeProtectedHeader } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { API_SCOPE, callApi, obtainTokens, publicClient } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

describe('authorization code flow with PKCE', () => {
  let server: TestServer;
  let alice: { username: string; password: string; id: string };

  beforeAll(async () => {
    server = await startTestServer();
    alice = await createUser(server, 'alice');
  });

  afterAll(async () => {
    await server.close();
  });

  it('issues an RFC 9068 access token for the API', async () => {
    const { tokens } = await obtainTokens(server, alice);

    const header = decodeProtectedHeader(tokens.access_token);
    const claims = decodeJwt(tokens.access_token);
    expect(header.typ).toBe('at+jwt');
    expect(header.alg).toBe('ES256');
    expect(claims.iss).toBe(server.issuer);
    expect(claims.aud).toBe(`${server.issuer}/api`);
    expect(claims.sub).toBe(alice.id);
    expect(claims['client_id']).toBe(server.demoClientId);
    expect(String(claims['scope']).split(' ').sort()).toEqual(['orders:read', 'orders:write']);
    expect(tokens.refresh_token).toBeTypeOf('string');
    expect(tokens.id_token).toBeTypeOf('string');
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
  });

  it('calls the API, refreshes and revokes', async () => {
    const { tokens, config } = await obtainTokens(server, alice);

    const created = await callApi(server, '/orders', tokens.access_token, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ item: 'lantern', quantity: 2 }),
    });
    expect(created.status).toBe(201);
    const order = (await created.json()) as { id: string; owner: string };
    expect(order.owner).toBe(alice.id);

    const listed = await callApi(server, '/orders', tokens.access_token);
    expect(listed.status).toBe(200);
    const page = (await listed.json()) as { items: Array<{ id: string }> };
    expect(page.items.map((item) => item.id)).toContain(order.id);

    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token as string);
    expect(refreshed.refresh_token).toBeTypeOf('string');
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect((await callApi(server, `/orders/${order.id}`, refreshed.access_token)).status).toBe(200);

    await client.tokenRevocation(config, refreshed.refresh_token as string);

    const afterRevocation = await callApi(server, '/orders', refreshed.access_token);
    expect(afterRevocation.status).toBe(401);
    expect(afterRevocation.headers.get('www-authenticate')).toContain('error="invalid_token"');
    await expect(client.refreshTokenGrant(config, refreshed.refresh_token as string)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
  });

  it('serves userinfo for an OpenID-only token', async () => {
    const { tokens, config } = await obtainTokens(server, { ...alice, scope: 'openid profile email' });

    const userinfo = await client.fetchUserInfo(config, tokens.access_token, alice.id);
    expect(userinfo.sub).toBe(alice.id);
    expect(userinfo.email).toBe('alice@example.com');
    expect(userinfo['preferred_username']).toBe('alice');
  });

  it('explains why userinfo rejects API tokens', async () => {
    const { tokens, config } = await obtainTokens(server, alice);

    const failure = await client.fetchUserInfo(config, tokens.access_token, alice.id).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(client.WWWAuthenticateChallengeError);
    const challenge = (failure as client.WWWAuthenticateChallengeError).cause[0];
    expect(challenge?.parameters.error).toBe('invalid_token');
    expect(challenge?.parameters.error_description).toContain('accepts no JWT access tokens');
  });

  it('introspects a refresh token', async () => {
    const { tokens, config } = await obtainTokens(server, alice);

    const active = await client.tokenIntrospection(config, tokens.refresh_token as string);
    expect(active.active).toBe(true);
    expect(active.client_id).toBe(server.demoClientId);

    const unknown = await client.tokenIntrospection(config, 'not-a-token');
    expect(unknown.active).toBe(false);
  });

  it('publishes discovery at both well-known locations', async () => {
    const openid = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    const oauth = (await (await fetch(`${server.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;

    expect(oauth).toEqual(openid);
    expect(openid['issuer']).toBe(server.issuer);
    expect(openid['code_challenge_methods_supported']).toEqual(['S256']);
    expect(openid['response_types_supported']).toEqual(['code']);
    expect(openid['authorization_response_iss_parameter_supported']).toBe(true);
    expect(openid['revocation_endpoint']).toBe(`${server.issuer}/oauth/revoke`);
    expect(openid['introspection_endpoint']).toBe(`${server.issuer}/oauth/introspect`);
    expect(openid['jwks_uri']).toBe(`${server.issuer}/.well-known/jwks.json`);
  });

  it('lists every scope it grants in discovery', async () => {
    const config = await publicClient(server);
    const { tokens } = await obtainTokens(server, alice, config);

    const advertised = config.serverMetadata().scopes_supported ?? [];
    for (const scope of [...API_SCOPE.split(' '), 'admin']) {
      expect(advertised, scope).toContain(scope);
    }
    for (const scope of String(tokens.scope).split(' ')) {
      expect(advertised, scope).toContain(scope);
    }
  });

  it('includes iss in the authorization response', async () => {
    const config = await publicClient(server);
    const { authorize } = await import('../support/oauth.js');
    const { callbackUrl } = await authorize(server, config, { ...alice, scope: API_SCOPE });

    expect(callbackUrl.searchParams.get('iss')).toBe(server.issuer);
    expect(callbackUrl.searchParams.get('code')).toBeTruthy();
  });
});
