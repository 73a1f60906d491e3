import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { callApi, obtainTokens, publicClient } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { UserAgent, formEndingWith } from '../support/user-agent.js';

/**
 * An access token for the API audience without an API scope. The API key
 * routes accept any user's token for the API, so such a token would let a
 * client that the user allowed only `openid` list and revoke the user's
 * API keys.
 */
describe('API audience without an API scope', () => {
  let server: TestServer;
  let config: client.Configuration;
  let user: { username: string; password: string; id: string };
  let audience: string;

  beforeAll(async () => {
    server = await startTestServer();
    config = await publicClient(server);
    user = await createUser(server, 'audience_user');
    audience = `${server.issuer}/api`;
  });

  afterAll(async () => {
    await server.close();
  });

  it('rejects an OpenID-only request for the API', async () => {
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: server.demoRedirectUri,
      scope: 'openid',
      resource: audience,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 'state-1',
    });

    const agent = new UserAgent(server.url);
    let page = await agent.follow(url.href, server.demoRedirectUri);
    for (let step = 0; step < 3 && !page.url.startsWith(server.demoRedirectUri); step += 1) {
      const html = await page.response.text();
      page = html.includes('/login"')
        ? await agent.submit(formEndingWith(html, '/login'), { username: user.username, password: user.password }, server.demoRedirectUri)
        : await agent.submit(formEndingWith(html, '/confirm'), {}, server.demoRedirectUri);
    }

    const failure = await client
      .authorizationCodeGrant(config, new URL(page.url), { pkceCodeVerifier: verifier, expectedState: 'state-1' }, { resource: audience })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(client.AuthorizationResponseError);
    expect((failure as client.AuthorizationResponseError).error).toBe('invalid_target');
  });

  it('narrows a refresh to OpenID without the API', async () => {
    const { tokens } = await obtainTokens(server, user);

    const narrowed = await client.refreshTokenGrant(config, tokens.refresh_token as string, { scope: 'openid' });

    expect(narrowed.access_token.split('.')).toHaveLength(1);
    expect((await callApi(server, '/keys', narrowed.access_token)).status).toBe(401);
    const userinfo = await client.fetchUserInfo(config, narrowed.access_token, user.id);
    expect(userinfo.sub).toBe(user.id);
  });

  it('rejects a refresh to OpenID for the API', async () => {
    const { tokens } = await obtainTokens(server, user);

    const failure = await client.refreshTokenGrant(config, tokens.refresh_token as string, { scope: 'openid', resource: audience }).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(client.ResponseBodyError);
    expect((failure as client.ResponseBodyError).error).toBe('invalid_target');
  });

  it('keeps the API scopes on a plain refresh', async () => {
    const { tokens } = await obtainTokens(server, user);

    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token as string);

    const claims = decodeJwt(refreshed.access_token);
    expect(claims.aud).toBe(audience);
    expect(String(claims['scope']).split(' ').sort()).toEqual(['orders:read', 'orders:write']);
    expect((await callApi(server, '/keys', refreshed.access_token)).status).toBe(200);
  });

  it('narrows a refresh to one API scope', async () => {
    const { tokens } = await obtainTokens(server, user);

    const narrowed = await client.refreshTokenGrant(config, tokens.refresh_token as string, { scope: 'openid orders:read' });

    const claims = decodeJwt(narrowed.access_token);
    expect(claims.aud).toBe(audience);
    expect(claims['scope']).toBe('orders:read');
  });
});
