import { calculateJwkThumbprint, createLocalJWKSet, decodeJwt, decodeProtectedHeader, importJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createRepositories } from '../../src/store/repositories.js';
import { loadServerSecret } from '../../src/store/server-secret.js';
import { runCli } from '../support/cli.js';
import { callApi, obtainTokens } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

interface Discovery {
  id_token_signing_alg_values_supported: string[];
  jwks_uri: string;
}

describe('ID token signing', () => {
  let server: TestServer;
  let rsaClientId: string;

  beforeAll(async () => {
    server = await startTestServer();
    const added = await runCli([
      'clients', 'add', '--name', 'RSA relying party', '--public', '--redirect-uri', server.demoRedirectUri,
      '--id-token-signed-response-alg', 'RS256', '--json', '--data-dir', server.dataDir,
    ]);
    expect(added.code, added.stderr).toBe(0);
    const registered = JSON.parse(added.stdout) as { client_id: string; id_token_signed_response_alg: string };
    expect(registered.id_token_signed_response_alg).toBe('RS256');
    rsaClientId = registered.client_id;
  });

  afterAll(async () => {
    await server?.close();
  });

  async function discover(): Promise<Discovery> {
    return (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Discovery;
  }

  async function publishedKeys(): Promise<JWK[]> {
    const { jwks_uri: jwksUri } = await discover();
    return ((await (await fetch(jwksUri)).json()) as { keys: JWK[] }).keys;
  }

  /** Discovers the server as the RS256 client, with openid-client checking ID token signatures against the JWK Set. */
  async function rsaClient(): Promise<client.Configuration> {
    return client.discovery(new URL(server.issuer), rsaClientId, { id_token_signed_response_alg: 'RS256' }, client.None(), {
      execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
    });
  }

  /** Returns the server's stored private key of `alg` that signs now. */
  async function storedPrivateKey(alg: string): Promise<JWK> {
    const keys = createRepositories(server.running.db, loadServerSecret(server.dataDir)).signingKeys;
    const active = (await keys.listPublished(3600)).find((key) => key.alg === alg && key.retiredAt === null);
    if (active === undefined) {
      throw new Error(`no active ${alg} key`);
    }
    return active.privateJwk;
  }

  it('lists ES256 and RS256 in discovery', async () => {
    const discovery = await discover();

    expect([...discovery.id_token_signing_alg_values_supported].sort()).toEqual(['ES256', 'RS256']);
  });

  it('publishes an RSA key of 2048 bits', async () => {
    const keys = await publishedKeys();
    const rsa = keys.filter((key) => key.alg === 'RS256');

    expect(rsa).toHaveLength(1);
    expect(rsa[0]?.kty).toBe('RSA');
    expect(rsa[0]?.use).toBe('sig');
    expect(rsa[0]?.d).toBeUndefined();
    expect(Buffer.from(rsa[0]?.n ?? '', 'base64url').length * 8).toBeGreaterThanOrEqual(2048);
    expect(rsa[0]?.kid).toBe(await calculateJwkThumbprint(rsa[0]!));
    expect(keys.filter((key) => key.alg === 'ES256')).toHaveLength(1);
  });

  it('signs the ID token of an RS256 client', async () => {
    const { tokens } = await obtainTokens(server, server.admin, await rsaClient());
    const idToken = tokens.id_token ?? '';

    const header = decodeProtectedHeader(idToken);
    expect(header.alg).toBe('RS256');
    const keys = await publishedKeys();
    expect(keys.find((key) => key.kid === header.kid)?.kty).toBe('RSA');
    const { payload } = await jwtVerify(idToken, createLocalJWKSet({ keys }), { algorithms: ['RS256'], issuer: server.issuer, audience: rsaClientId });
    expect(payload.sub).toBe(tokens.claims()?.sub);

    // The access token of the same flow stays ES256.
    expect(decodeProtectedHeader(tokens.access_token).alg).toBe('ES256');
    expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(200);
  });

  it('signs with RS256 by default', async () => {
    const added = await runCli(['clients', 'add', '--name', 'Default relying party', '--public', '--redirect-uri', server.demoRedirectUri, '--json', '--data-dir', server.dataDir]);
    expect(added.code, added.stderr).toBe(0);
    const registered = JSON.parse(added.stdout) as { client_id: string; id_token_signed_response_alg: string };
    expect(registered.id_token_signed_response_alg).toBe('RS256');

    // openid-client without id_token_signed_response_alg expects RS256, the registration default.
    for (const clientId of [registered.client_id, server.demoClientId]) {
      const config = await client.discovery(new URL(server.issuer), clientId, undefined, client.None(), {
        execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
      });
      const { tokens } = await obtainTokens(server, server.admin, config);
      expect(decodeProtectedHeader(tokens.id_token ?? '').alg).toBe('RS256');
    }
  });

  it('keeps ES256 for clients stored without one', async () => {
    // Clients stored by earlier versions have no id_token_signed_response_alg.
    const clients = createRepositories(server.running.db, loadServerSecret(server.dataDir)).clients;
    await clients.create({
      client_id: 'earlier-client',
      client_name: 'Earlier relying party',
      redirect_uris: [server.demoRedirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      application_type: 'web',
    });
    const config = await client.discovery(new URL(server.issuer), 'earlier-client', { id_token_signed_response_alg: 'ES256' }, client.None(), {
      execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
    });
    const { tokens } = await obtainTokens(server, server.admin, config);
    const idToken = tokens.id_token ?? '';

    expect(decodeProtectedHeader(idToken).alg).toBe('ES256');
    await jwtVerify(idToken, createLocalJWKSet({ keys: await publishedKeys() }), { algorithms: ['ES256'], issuer: server.issuer, audience: 'earlier-client' });
  });

  it('rejects RS256 tokens as access tokens', async () => {
    const { tokens } = await obtainTokens(server, server.admin, await rsaClient());
    expect((await callApi(server, '/orders', tokens.id_token)).status).toBe(401);

    // The access token's claims signed again with the server's own keys: the
    // ES256 copy is accepted, so only the algorithm and key reject the RS256 one.
    const claims = decodeJwt(tokens.access_token);
    const resign = async (alg: string) => {
      const jwk = await storedPrivateKey(alg);
      return new SignJWT(claims).setProtectedHeader({ alg, kid: jwk.kid as string, typ: 'at+jwt' }).sign(await importJWK(jwk, alg));
    };
    expect((await callApi(server, '/orders', await resign('ES256'))).status).toBe(200);
    const rejected = await callApi(server, '/orders', await resign('RS256'));
    expect(rejected.status).toBe(401);
    expect(rejected.headers.get('www-authenticate')).toContain('invalid_token');
  });

  it('rotates both keys with the CLI', async () => {
    const before = await publishedKeys();

    const rotated = await runCli(['keys', 'rotate', '--json', '--data-dir', server.dataDir]);
    expect(rotated.code, rotated.stderr).toBe(0);
    const created = JSON.parse(rotated.stdout) as Array<{ kid: string; alg: string; active: boolean }>;
    expect(created.map((key) => key.alg)).toEqual(['ES256', 'RS256']);
    expect(created.every((key) => key.active)).toBe(true);
    const newRsaKid = created[1]?.kid;

    // The server polls the key table; wait a bounded time for the new keys.
    let kids: string[] = [];
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      kids = (await publishedKeys()).map((key) => key.kid as string);
      if (created.every((key) => kids.includes(key.kid))) {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(kids.sort()).toEqual([...before.map((key) => key.kid as string), ...created.map((key) => key.kid)].sort());

    // The new RS256 key signs once the signing delay has passed.
    let idToken = (await obtainTokens(server, server.admin, await rsaClient())).tokens.id_token ?? '';
    const signingDeadline = Date.now() + 15_000;
    while (decodeProtectedHeader(idToken).kid !== newRsaKid && Date.now() < signingDeadline) {
      expect(decodeProtectedHeader(idToken).kid).toBe(before.find((key) => key.alg === 'RS256')?.kid);
      await new Promise((resolve) => setTimeout(resolve, 500));
      idToken = (await obtainTokens(server, server.admin, await rsaClient())).tokens.id_token ?? '';
    }
    expect(decodeProtectedHeader(idToken).kid).toBe(newRsaKid);

    const listed = JSON.parse((await runCli(['keys', 'list', '--json', '--data-dir', server.dataDir])).stdout) as Array<{ kid: string; alg: string; state: string }>;
    expect(listed.filter((key) => key.state === 'active').map((key) => key.kid).sort()).toEqual(created.map((key) => key.kid).sort());
    expect(listed.filter((key) => key.state === 'retired').map((key) => key.kid).sort()).toEqual(before.map((key) => key.kid as string).sort());
  });
});
