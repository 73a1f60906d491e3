import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { authorize, callApi, obtainTokens, publicClient } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * A refresh request that gets an error must leave the refresh token as it
 * was. oidc-provider 9 rotates the token before it resolves the resource
 * and its scopes, so without Portcullis's earlier check a refresh rejected
 * there consumes the token, and the client's retry revokes the grant.
 */
describe('token request rejected for its target', () => {
  let server: TestServer;
  let config: client.Configuration;
  let user: { username: string; password: string; id: string };
  let audience: string;

  beforeAll(async () => {
    server = await startTestServer();
    config = await publicClient(server);
    user = await createUser(server, 'refresh_user');
    audience = `${server.issuer}/api`;
  });

  afterAll(async () => {
    await server.close();
  });

  /** Returns the refresh tokens in the store, consumed ones included, as `id:unused` or `id:consumed` entries. */
  async function storedRefreshTokens(): Promise<string[]> {
    const rows = await server.running.db.selectFrom('oidc_payloads').select(['id', 'consumed_at']).where('model', '=', 'RefreshToken').orderBy('id').execute();
    return rows.map((row) => `${row.id}:${row.consumed_at === null ? 'unused' : 'consumed'}`);
  }

  async function refreshError(refreshToken: string, parameters: Record<string, string> | URLSearchParams): Promise<string | undefined> {
    const failure = await client.refreshTokenGrant(config, refreshToken, parameters).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(client.ResponseBodyError);
    return (failure as client.ResponseBodyError).error;
  }

  const rejectedRequests: Array<[string, (audience: string) => Record<string, string> | URLSearchParams]> = [
    ['an unknown resource', () => ({ resource: 'https://elsewhere.example/api' })],
    ['the API without an API scope', (api) => ({ scope: 'openid', resource: api })],
    ['a scope without openid or an API scope', () => ({ scope: 'profile' })],
    ['the resource sent twice', (api) => new URLSearchParams([['resource', api], ['resource', api]])],
  ];

  for (const [name, parameters] of rejectedRequests) {
    it(`keeps the token after ${name}`, async () => {
      const { tokens } = await obtainTokens(server, user);
      const refreshToken = tokens.refresh_token as string;
      const before = await storedRefreshTokens();

      expect(await refreshError(refreshToken, parameters(audience))).toBe('invalid_target');
      expect(await storedRefreshTokens()).toEqual(before);

      const refreshed = await client.refreshTokenGrant(config, refreshToken);
      expect(refreshed.refresh_token).toBeTypeOf('string');
      expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(200);
      expect((await callApi(server, '/orders', refreshed.access_token)).status).toBe(200);
    });
  }

  it('still revokes the grant on reuse', async () => {
    const { tokens } = await obtainTokens(server, user);
    const refreshToken = tokens.refresh_token as string;
    const refreshed = await client.refreshTokenGrant(config, refreshToken);

    expect(await refreshError(refreshToken, {})).toBe('invalid_grant');
    expect(await refreshError(refreshed.refresh_token as string, {})).toBe('invalid_grant');
    expect((await callApi(server, '/orders', refreshed.access_token)).status).toBe(401);
  });

  // oidc-provider 9 consumes a code before it resolves the resource, and has
  // no setting that runs in between, so the retry counts as a replay.
  it('uses up a code exchanged for an unknown resource', async () => {
    const { callbackUrl, codeVerifier, state } = await authorize(server, config, user);
    const checks = { pkceCodeVerifier: codeVerifier, expectedState: state };

    const failure = await client
      .authorizationCodeGrant(config, callbackUrl, checks, { resource: 'https://elsewhere.example/api' })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(client.ResponseBodyError);
    expect((failure as client.ResponseBodyError).error).toBe('invalid_target');

    const retry = await client.authorizationCodeGrant(config, callbackUrl, checks).catch((error: unknown) => error);
    expect(retry).toBeInstanceOf(client.ResponseBodyError);
    expect((retry as client.ResponseBodyError).error).toBe('invalid_grant');
  });
});
