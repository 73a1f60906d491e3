import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, exportJWK, generateKeyPair } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DEFAULT_REVOCATION_CHECK_TTL_MS } from '../../src/config/load.js';
import { runCli } from '../support/cli.js';
import { callApi } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

interface CreatedClient {
  client_id: string;
  client_secret?: string;
  scope?: string;
}

describe('client credentials grant', () => {
  let server: TestServer;
  let service: CreatedClient;

  beforeAll(async () => {
    server = await startTestServer();
    service = await addClient('--confidential', '--grant', 'client_credentials', '--scope', 'orders:read');
  });

  afterAll(async () => {
    await server.close();
  });

  async function addClient(...args: string[]): Promise<CreatedClient> {
    const result = await runCli(['clients', 'add', '--name', 'Service', '--json', '--data-dir', server.dataDir, ...args]);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as CreatedClient;
  }

  async function configure(clientId: string, auth: client.ClientAuth): Promise<client.Configuration> {
    return client.discovery(new URL(server.issuer), clientId, undefined, auth, { execute: [client.allowInsecureRequests] });
  }

  it('issues an API token with client_secret_basic', async () => {
    const config = await configure(service.client_id, client.ClientSecretBasic(service.client_secret ?? ''));
    const tokens = await client.clientCredentialsGrant(config, { scope: 'orders:read' });

    const claims = decodeJwt(tokens.access_token);
    expect(claims.aud).toBe(`${server.issuer}/api`);
    expect(claims.sub).toBe(service.client_id);
    expect(claims['client_id']).toBe(service.client_id);
    expect(claims['scope']).toBe('orders:read');
    expect(tokens.refresh_token).toBeUndefined();

    expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(200);
    const write = await callApi(server, '/orders', tokens.access_token, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"item":"x","quantity":1}',
    });
    expect(write.status).toBe(403);
  });

  it('rejects a scope the client lacks', async () => {
    const config = await configure(service.client_id, client.ClientSecretBasic(service.client_secret ?? ''));
    await expect(client.clientCredentialsGrant(config, { scope: 'orders:read orders:write' })).rejects.toMatchObject({ error: 'invalid_scope' });
    await expect(client.clientCredentialsGrant(config, { scope: 'admin' })).rejects.toMatchObject({ error: 'invalid_scope' });
  });

  it('rejects a request without a scope', async () => {
    const config = await configure(service.client_id, client.ClientSecretBasic(service.client_secret ?? ''));

    const rejection = client.clientCredentialsGrant(config, {});

    await expect(rejection).rejects.toMatchObject({ error: 'invalid_scope' });
    await expect(rejection).rejects.toMatchObject({ error_description: expect.stringContaining('scope parameter is missing; request one or more of: orders:read') });
  });

  it('rejects OpenID scopes', async () => {
    // A client that also signs users in may list OpenID scopes, which mean
    // nothing without a user: the token would carry no scope at all.
    const both = await addClient('--confidential', '--grant', 'client_credentials', '--grant', 'authorization_code', '--redirect-uri', 'https://service.example.test/cb', '--scope', 'openid', '--scope', 'orders:read');
    const config = await configure(both.client_id, client.ClientSecretBasic(both.client_secret ?? ''));

    for (const scope of ['openid', 'openid orders:read']) {
      const rejection = client.clientCredentialsGrant(config, { scope });
      await expect(rejection, scope).rejects.toMatchObject({ error: 'invalid_scope' });
      await expect(rejection, scope).rejects.toMatchObject({ error_description: expect.stringContaining('client credentials grant') });
    }
    const tokens = await client.clientCredentialsGrant(config, { scope: 'orders:read' });
    expect(decodeJwt(tokens.access_token)['scope']).toBe('orders:read');
  });

  it('registers no client without API scopes', async () => {
    const result = await runCli(['clients', 'add', '--name', 'Scopeless', '--confidential', '--grant', 'client_credentials', '--scope', 'openid', '--data-dir', server.dataDir]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('needs at least one API --scope');
  });

  it('keeps the client off pushed requests', async () => {
    const authorization = `Basic ${Buffer.from(`${service.client_id}:${service.client_secret ?? ''}`).toString('base64')}`;
    const response = await fetch(`${server.url}/oauth/par`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization },
      body: new URLSearchParams({
        client_id: service.client_id,
        response_type: 'code',
        redirect_uri: 'https://service.example.test/cb',
        scope: 'orders:read',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        code_challenge_method: 'S256',
      }),
    });

    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'unauthorized_client' });
  });

  it('stores the secret only hashed', async () => {
    await server.running.db.selectFrom('clients').select('client_id').execute();
    for (const file of ['portcullis.sqlite', 'portcullis.sqlite-wal']) {
      const bytes = await readFile(join(server.dataDir, file)).catch(() => Buffer.alloc(0));
      expect(bytes.includes(Buffer.from(service.client_secret ?? 'missing')), file).toBe(false);
    }
  });

  it('issues tokens with private_key_jwt', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwksFile = join(tmpdir(), `portcullis-jwks-${Date.now()}.json`);
    await writeFile(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), alg: 'ES256', use: 'sig' }] }));
    const created = await addClient('--confidential', '--grant', 'client_credentials', '--scope', 'orders:read', '--auth', 'private_key_jwt', '--jwks-file', jwksFile);
    expect(created.client_secret).toBeUndefined();

    const config = await configure(created.client_id, client.PrivateKeyJwt(privateKey));
    const tokens = await client.clientCredentialsGrant(config, { scope: 'orders:read' });
    expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(200);

    const stranger = await generateKeyPair('ES256');
    const forged = await configure(created.client_id, client.PrivateKeyJwt(stranger.privateKey));
    await expect(client.clientCredentialsGrant(forged, { scope: 'orders:read' })).rejects.toMatchObject({ error: 'invalid_client' });
  });

  it('issues tokens with an Ed25519 key', async () => {
    // openid-client signs with an Ed25519 key under the fully-specified
    // algorithm name `Ed25519` (RFC 9864), not the older `EdDSA`.
    const { publicKey, privateKey } = await generateKeyPair('Ed25519', { extractable: true });
    const jwksFile = join(tmpdir(), `portcullis-jwks-ed25519-${Date.now()}.json`);
    await writeFile(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), use: 'sig' }] }));
    const created = await addClient('--confidential', '--grant', 'client_credentials', '--scope', 'orders:read', '--auth', 'private_key_jwt', '--jwks-file', jwksFile);

    const config = await configure(created.client_id, client.PrivateKeyJwt(privateKey));
    const tokens = await client.clientCredentialsGrant(config, { scope: 'orders:read' });

    expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(200);
    expect(config.serverMetadata().token_endpoint_auth_signing_alg_values_supported).toContain('Ed25519');
  });

  it('rejects a private key in the JWKS file', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwksFile = join(tmpdir(), `portcullis-private-${Date.now()}.json`);
    await writeFile(jwksFile, JSON.stringify({ keys: [await exportJWK(privateKey)] }));
    const result = await runCli(['clients', 'add', '--name', 'Leaky', '--confidential', '--grant', 'client_credentials', '--scope', 'orders:read', '--auth', 'private_key_jwt', '--jwks-file', jwksFile, '--data-dir', server.dataDir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('private or symmetric key');
  });

  it('stops tokens of a removed client', async () => {
    const doomed = await addClient('--confidential', '--grant', 'client_credentials', '--scope', 'orders:read');
    const config = await configure(doomed.client_id, client.ClientSecretBasic(doomed.client_secret ?? ''));
    const tokens = await client.clientCredentialsGrant(config, { scope: 'orders:read' });
    expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(200);

    const removed = await runCli(['clients', 'remove', doomed.client_id, '--data-dir', server.dataDir]);
    expect(removed.code, removed.stderr).toBe(0);
    // The gateway reuses a client check for up to this long, and the CLI's change comes from another process.
    await new Promise((resolve) => setTimeout(resolve, DEFAULT_REVOCATION_CHECK_TTL_MS));
    expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(401);
  });
});
