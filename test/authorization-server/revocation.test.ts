import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { runCli } from '../support/cli.js';
import { obtainTokens } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
let config: client.Configuration;
let refreshToken: string;
let service: { client_id: string; client_secret: string };
let otherPublicClientId: string;

beforeAll(async () => {
  server = await startTestServer();
  const user = await createUser(server, 'revocation_user');
  const obtained = await obtainTokens(server, user);
  config = obtained.config;
  refreshToken = obtained.tokens.refresh_token as string;

  const confidential = await runCli(['clients', 'add', '--name', 'Revoking service', '--json', '--confidential', '--grant', 'client_credentials', '--scope', 'orders:read', '--data-dir', server.dataDir]);
  expect(confidential.code, confidential.stderr).toBe(0);
  service = JSON.parse(confidential.stdout) as typeof service;

  const publicClient = await runCli(['clients', 'add', '--name', 'Other app', '--json', '--public', '--redirect-uri', 'http://127.0.0.1/other/callback', '--data-dir', server.dataDir]);
  expect(publicClient.code, publicClient.stderr).toBe(0);
  otherPublicClientId = (JSON.parse(publicClient.stdout) as { client_id: string }).client_id;
});

afterAll(async () => {
  await server.close();
});

function revoke(params: Record<string, string>, authorization?: string): Promise<Response> {
  return fetch(`${server.url}/oauth/revoke`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(authorization === undefined ? {} : { authorization }),
    },
    body: new URLSearchParams(params),
  });
}

/** Checks that the refresh token still works, and keeps the rotated one for the next test. */
async function expectRefreshTokenWorks(): Promise<void> {
  const refreshed = await client.refreshTokenGrant(config, refreshToken);
  refreshToken = refreshed.refresh_token as string;
  expect(refreshToken).toBeTypeOf('string');
}

describe('revocation of a token issued to another client', () => {
  it('rejects a confidential client', async () => {
    const basic = `Basic ${Buffer.from(`${encodeURIComponent(service.client_id)}:${encodeURIComponent(service.client_secret)}`).toString('base64')}`;

    const response = await revoke({ token: refreshToken, token_type_hint: 'refresh_token' }, basic);

    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: string; error_description: string };
    expect(body.error).toBe('invalid_request');
    expect(body.error_description).toMatch(/not issued to this client/);
    await expectRefreshTokenWorks();
  });

  it('ignores a public client', async () => {
    // A public client is not authenticated, so a rejection would tell any caller that the token exists.
    const response = await revoke({ token: refreshToken, client_id: otherPublicClientId });

    expect(response.status).toBe(200);
    await expectRefreshTokenWorks();
  });

  it('revokes for the issuing client', async () => {
    const response = await revoke({ token: refreshToken, client_id: server.demoClientId });

    expect(response.status).toBe(200);
    await expect(client.refreshTokenGrant(config, refreshToken)).rejects.toMatchObject({ error: 'invalid_grant' });
  });
});

describe('revocation of an opaque access token', () => {
  it('ends the refresh token too', async () => {
    const user = await createUser(server, 'opaque_revocation_user');
    const { tokens, config: openIdConfig } = await obtainTokens(server, { ...user, scope: 'openid email' });

    await client.tokenRevocation(openIdConfig, tokens.access_token);

    await expect(client.refreshTokenGrant(openIdConfig, tokens.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_grant' });
  });
});
