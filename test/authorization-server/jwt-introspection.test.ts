import { SignJWT, generateKeyPair } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { runCli } from '../support/cli.js';
import { obtainTokens } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

interface CreatedClient {
  client_id: string;
  client_secret: string;
}

let server: TestServer;
let tokens: client.TokenEndpointResponse;
let service: CreatedClient;
let foreignJws: string;

beforeAll(async () => {
  server = await startTestServer();
  const alice = await createUser(server, 'jwt_introspection_user');
  ({ tokens } = await obtainTokens(server, alice));

  const result = await runCli(['clients', 'add', '--name', 'Introspecting service', '--json', '--confidential', '--grant', 'client_credentials', '--scope', 'orders:read', '--data-dir', server.dataDir]);
  expect(result.code, result.stderr).toBe(0);
  service = JSON.parse(result.stdout) as CreatedClient;

  const { privateKey } = await generateKeyPair('ES256');
  foreignJws = await new SignJWT({ sub: 'someone' }).setProtectedHeader({ alg: 'ES256' }).setIssuer(server.issuer).sign(privateKey);
});

afterAll(async () => {
  await server.close();
});

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

async function post(path: string, params: Record<string, string>, authorization?: string): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(authorization === undefined ? {} : { authorization }),
    },
    body: new URLSearchParams(params),
  });
}

describe('introspection of a JWT', () => {
  it.each([
    ['access token', () => tokens.access_token],
    ['ID token', () => tokens.id_token ?? ''],
    ['foreign JWS', () => foreignJws],
  ])('reports the %s inactive', async (_kind, token) => {
    const response = await post('/oauth/introspect', { token: token(), client_id: server.demoClientId });

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.json()).toEqual({ active: false });
  });

  it('reports inactive to another client', async () => {
    const response = await post('/oauth/introspect', { token: tokens.access_token, token_type_hint: 'access_token' }, basic(service.client_id, service.client_secret));

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ active: false });
  });

  it('reports inactive through openid-client', async () => {
    const config = await client.discovery(new URL(server.issuer), server.demoClientId, undefined, client.None(), {
      execute: [client.allowInsecureRequests],
    });

    const introspection = await client.tokenIntrospection(config, tokens.access_token);
    expect(introspection.active).toBe(false);
  });

  it('keeps 401 for a wrong client secret', async () => {
    const response = await post('/oauth/introspect', { token: tokens.access_token }, basic(service.client_id, 'wrong-secret'));

    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: string }).error).toBe('invalid_client');
  });

  it('keeps 401 without client authentication', async () => {
    const response = await post('/oauth/introspect', { token: tokens.access_token });

    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: string }).error).toBe('invalid_client');
  });

  it('keeps RFC 7009 unsupported_token_type on revocation', async () => {
    const response = await post('/oauth/revoke', { token: tokens.access_token, client_id: server.demoClientId });

    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toBe('unsupported_token_type');
  });
});
