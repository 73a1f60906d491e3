import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from '../support/cli.js';
import { startTestServer, type TestServer } from '../support/server.js';

interface CreatedClient {
  client_id: string;
  client_secret?: string;
}

const ENDPOINTS = ['introspection', 'revocation'] as const;

let server: TestServer;
let secretClient: CreatedClient;
let keyClient: CreatedClient;
let keyClientPrivateKey: CryptoKey;

async function addClient(...args: string[]): Promise<CreatedClient> {
  const result = await runCli(['clients', 'add', '--name', 'Auth method client', '--json', '--data-dir', server.dataDir, ...args]);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as CreatedClient;
}

async function addKeyClient(): Promise<void> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwksFile = join(tmpdir(), `portcullis-auth-methods-${Date.now()}.json`);
  await writeFile(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), alg: 'ES256', use: 'sig' }] }));
  keyClient = await addClient('--confidential', '--grant', 'client_credentials', '--scope', 'orders:read', '--auth', 'private_key_jwt', '--jwks-file', jwksFile);
  keyClientPrivateKey = privateKey;
}

beforeAll(async () => {
  server = await startTestServer();
  secretClient = await addClient('--confidential', '--grant', 'client_credentials', '--scope', 'orders:read');
  await addKeyClient();
});

afterAll(async () => {
  await server.close();
});

async function metadata(path: string): Promise<Record<string, unknown>> {
  return (await (await fetch(`${server.url}${path}`)).json()) as Record<string, unknown>;
}

async function configure(clientId: string, auth: client.ClientAuth): Promise<client.Configuration> {
  return client.discovery(new URL(server.issuer), clientId, undefined, auth, { execute: [client.allowInsecureRequests] });
}

/** Builds a client configuration for each authentication method that discovery publishes. */
async function clientFor(method: string): Promise<client.Configuration> {
  switch (method) {
    case 'none':
      return configure(server.demoClientId, client.None());
    case 'client_secret_basic':
      return configure(secretClient.client_id, client.ClientSecretBasic(secretClient.client_secret ?? ''));
    case 'private_key_jwt':
      return configure(keyClient.client_id, client.PrivateKeyJwt(keyClientPrivateKey));
    default:
      throw new Error(`no test client for the authentication method ${method}`);
  }
}

describe('introspection and revocation authentication metadata', () => {
  it.each(['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server'])('publishes the methods at %s', async (path) => {
    const document = await metadata(path);

    for (const endpoint of ENDPOINTS) {
      expect(document[`${endpoint}_endpoint_auth_methods_supported`], endpoint).toEqual(['none', 'client_secret_basic', 'private_key_jwt']);
      expect(document[`${endpoint}_endpoint_auth_signing_alg_values_supported`], endpoint).toEqual(
        document['token_endpoint_auth_signing_alg_values_supported'],
      );
    }
    expect(document['token_endpoint_auth_signing_alg_values_supported']).toEqual(['ES256', 'ES384', 'PS256', 'RS256', 'Ed25519', 'EdDSA']);
  });

  it.each(['none', 'client_secret_basic', 'private_key_jwt'])('introspects and revokes with %s', async (method) => {
    const config = await clientFor(method);

    const introspection = await client.tokenIntrospection(config, 'not-a-token');
    expect(introspection.active).toBe(false);
    await expect(client.tokenRevocation(config, 'not-a-token')).resolves.toBeUndefined();
  });

  it.each(['/oauth/introspect', '/oauth/revoke'])('rejects client_secret_post on %s', async (path) => {
    const response = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: 'not-a-token', client_id: secretClient.client_id, client_secret: secretClient.client_secret ?? '' }),
    });

    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: string }).error).toBe('invalid_client');
  });
});
