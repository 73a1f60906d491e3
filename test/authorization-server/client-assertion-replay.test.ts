import { createHmac, randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, base64url, exportJWK, exportSPKI, generateKeyPair, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from '../support/cli.js';
import { REDIS_URL } from '../support/config-file.js';
import { startTestServer, type TestServer } from '../support/server.js';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/**
 * `private_key_jwt` client assertions sent more than once, for another
 * audience or for several, with a far expiry or with a forged signature, on each store of replay detection
 * entries: SQL alone and SQL with Redis.
 */
describe.each([
  { store: 'SQLite', redisUrl: undefined },
  { store: 'Redis', redisUrl: REDIS_URL },
])('client assertion on $store', ({ redisUrl }) => {
  let server: TestServer;
  let clientId: string;
  let keys: { publicKey: CryptoKey; privateKey: CryptoKey };

  beforeAll(async () => {
    server = await startTestServer(redisUrl === undefined ? {} : { redisUrl });
    keys = await generateKeyPair('ES256', { extractable: true });
    const jwksFile = join(tmpdir(), `portcullis-assertion-jwks-${randomUUID()}.json`);
    await writeFile(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(keys.publicKey)), alg: 'ES256', use: 'sig' }] }));
    const result = await runCli([
      'clients', 'add', '--name', 'Assertion client', '--json', '--data-dir', server.dataDir,
      '--confidential', '--grant', 'client_credentials', '--scope', 'orders:read', '--auth', 'private_key_jwt', '--jwks-file', jwksFile,
    ]);
    expect(result.code, result.stderr).toBe(0);
    clientId = (JSON.parse(result.stdout) as { client_id: string }).client_id;
  });

  afterAll(async () => {
    await server?.close();
  });

  async function signAssertion(audience: string | string[] = server.issuer, lifetime = '60s'): Promise<string> {
    return new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime(lifetime)
      .sign(keys.privateKey);
  }

  /** Returns the encoded header and payload of a valid assertion with `alg`, for the caller to sign. */
  function unsignedParts(alg: string): string {
    const header = base64url.encode(JSON.stringify({ alg, typ: 'JWT' }));
    const now = Math.floor(Date.now() / 1000);
    const payload = base64url.encode(JSON.stringify({ iss: clientId, sub: clientId, aud: server.issuer, jti: randomUUID(), iat: now, exp: now + 60 }));
    return `${header}.${payload}`;
  }

  async function requestToken(assertion: string): Promise<Response> {
    return fetch(`${server.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        scope: 'orders:read',
        client_id: clientId,
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: assertion,
      }),
    });
  }

  it('accepts an assertion once', async () => {
    const assertion = await signAssertion();

    expect((await requestToken(assertion)).status).toBe(200);
    const replay = await requestToken(assertion);
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { error: string }).error).toBe('invalid_client');
  });

  it('accepts one of parallel replays', async () => {
    const assertion = await signAssertion();

    const responses = await Promise.all(Array.from({ length: 20 }, () => requestToken(assertion)));
    const statuses = responses.map((response) => response.status);

    expect(statuses.filter((status) => status === 200)).toHaveLength(1);
    expect(statuses.filter((status) => status === 401)).toHaveLength(19);
  });

  it('rejects an assertion for another audience', async () => {
    for (const audience of [`${server.issuer}/api`, `${server.issuer}/`, 'https://as.example.test']) {
      expect((await requestToken(await signAssertion(audience))).status, audience).toBe(401);
    }
  });

  it('rejects an audience list naming others', async () => {
    const response = await requestToken(await signAssertion([server.issuer, 'https://as.example.test']));

    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: string }).error).toBe('invalid_client');
  });

  it('accepts a list of its own identifiers', async () => {
    for (const audience of [[server.issuer], [server.issuer, `${server.issuer}/oauth/token`]]) {
      expect((await requestToken(await signAssertion(audience))).status, audience.join(' ')).toBe(200);
    }
  });

  it('accepts a five-minute lifetime', async () => {
    expect((await requestToken(await signAssertion(server.issuer, '290s'))).status).toBe(200);
  });

  it('rejects a far expiry', async () => {
    for (const lifetime of ['1h', '400d']) {
      const response = await requestToken(await signAssertion(server.issuer, lifetime));
      expect(response.status, lifetime).toBe(401);
      expect(((await response.json()) as { error: string }).error, lifetime).toBe('invalid_client');
    }
  });

  it('rejects alg none and HS256 with the public key', async () => {
    expect((await requestToken(`${unsignedParts('none')}.`)).status).toBe(401);

    const signingInput = unsignedParts('HS256');
    const publicKeyPem = await exportSPKI(keys.publicKey);
    const signature = createHmac('sha256', publicKeyPem).update(signingInput).digest('base64url');
    expect((await requestToken(`${signingInput}.${signature}`)).status).toBe(401);
  });
});
