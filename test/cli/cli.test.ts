import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { decodeProtectedHeader } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DEFAULT_REVOCATION_CHECK_TTL_MS } from '../../src/config/load.js';
import { runCli } from '../support/cli.js';
import { callApi, obtainTokens } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

describe('admin CLI against a running server', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server.close();
  });

  const dataDir = () => ['--data-dir', server.dataDir];

  it('prints help for every command', async () => {
    for (const command of [[], ['start'], ['users', 'add'], ['clients', 'add'], ['clients', 'list'], ['clients', 'remove'], ['keys', 'rotate'], ['migrate']]) {
      const result = await runCli([...command, '--help']);
      expect(result.code, command.join(' ')).toBe(0);
      expect(result.stdout).toContain('Usage: portcullis');
    }
    // Each command is a new Node.js process compiling TypeScript, several seconds apiece on a busy machine.
  }, 120_000);

  it('adds a user with the password from stdin', async () => {
    const result = await runCli(['users', 'add', 'erin', '--email', 'Erin@Example.com', '--json', ...dataDir()], 'Sturdy-Passw0rd\n');
    expect(result.code).toBe(0);
    const account = JSON.parse(result.stdout) as { username: string; email: string; roles: string[] };
    expect(account).toMatchObject({ username: 'erin', email: 'erin@example.com', roles: [] });

    const { tokens } = await obtainTokens(server, { username: 'erin', password: 'Sturdy-Passw0rd' });
    expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(200);
  });

  it('adds an admin user', async () => {
    const result = await runCli(['users', 'add', 'frank', '--email', 'frank@example.com', '--role', 'admin', '--json', ...dataDir()], 'Sturdy-Passw0rd\n');
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as { roles: string[] }).roles).toEqual(['admin']);
  });

  it('stores a repeated role once', async () => {
    const result = await runCli(['users', 'add', 'frida', '--email', 'frida@example.com', '--role', 'admin', '--role', 'admin', '--json', ...dataDir()], 'Sturdy-Passw0rd\n');
    expect(result.code, result.stderr).toBe(0);
    expect((JSON.parse(result.stdout) as { roles: string[] }).roles).toEqual(['admin']);

    const unchanged = await runCli(['users', 'roles', 'frida', '--role', 'admin', ...dataDir()]);
    expect(unchanged.code, unchanged.stderr).toBe(0);
    expect(unchanged.stdout).toContain('roles of frida unchanged: admin');
  }, 60_000);

  it('rejects a weak password by field', async () => {
    const result = await runCli(['users', 'add', 'gina', '--email', 'gina@example.com', ...dataDir()], 'weak\n');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('password: Password must be at least 12 characters.');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('rejects an empty standard input', async () => {
    const result = await runCli(['users', 'add', 'ida', '--email', 'ida@example.com', ...dataDir()], '');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no password given: the first line of standard input was empty');
    expect(result.stderr).not.toContain('Password must');
  });

  it('rejects an unknown role', async () => {
    const result = await runCli(['users', 'add', 'hank', '--email', 'hank@example.com', '--role', 'root', ...dataDir()], 'Sturdy-Passw0rd\n');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("unknown role 'root'");
  });

  it('adds a public client usable at once', async () => {
    const redirectUri = 'http://127.0.0.1:7777/callback';
    const result = await runCli(['clients', 'add', '--name', 'Walkthrough', '--redirect-uri', redirectUri, '--public', '--json', ...dataDir()]);
    expect(result.code).toBe(0);
    const created = JSON.parse(result.stdout) as { client_id: string; type: string; client_secret?: string };
    expect(created.type).toBe('public');
    expect(created.client_secret).toBeUndefined();

    const config = await client.discovery(new URL(server.issuer), created.client_id, undefined, client.None(), {
      execute: [client.allowInsecureRequests],
    });
    const { tokens } = await obtainTokens(server, { ...server.admin, redirectUri }, config);
    expect(tokens.access_token).toBeTypeOf('string');

    const listed = await runCli(['clients', 'list', '--json', ...dataDir()]);
    const clients = JSON.parse(listed.stdout) as Array<{ clientId: string }>;
    expect(clients.map((entry) => entry.clientId)).toContain(created.client_id);
  });

  it('adds a confidential client and shows its secret once', async () => {
    const result = await runCli(['clients', 'add', '--name', 'Server app', '--redirect-uri', 'https://app.example.test/cb', '--confidential', '--json', ...dataDir()]);
    expect(result.code).toBe(0);
    const created = JSON.parse(result.stdout) as { client_id: string; client_secret: string };
    expect(created.client_secret.length).toBeGreaterThanOrEqual(43);

    const listed = await runCli(['clients', 'list', '--json', ...dataDir()]);
    expect(listed.stdout).not.toContain(created.client_secret);

    const stored = await server.running.db.selectFrom('clients').select('metadata').where('client_id', '=', created.client_id).executeTakeFirst();
    expect(stored?.metadata).not.toContain(created.client_secret);

    const wrongSecret = await fetch(`${server.url}/oauth/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${created.client_id}:wrong`).toString('base64')}`,
      },
      body: 'grant_type=authorization_code&code=x&redirect_uri=https%3A%2F%2Fapp.example.test%2Fcb&code_verifier=x',
    });
    expect(wrongSecret.status).toBe(401);
    expect(((await wrongSecret.json()) as { error: string }).error).toBe('invalid_client');
  });

  it.each([
    ['a fragment', 'https://app.example.test/cb#x'],
    ['user info', 'https://app.example.test@evil.example/cb'],
    ['http on a public host', 'http://app.example.test/cb'],
    ['a wildcard', 'https://*.example.test/cb'],
    ['a non-canonical form', 'https://APP.example.test/cb'],
    ['a default port', 'https://app.example.test:443/cb'],
    ['a dot segment', 'https://app.example.test/a/../cb'],
    ['a relative reference', '/cb'],
    ['a javascript URI', 'javascript:alert(1)'],
  ])('rejects a redirect URI with %s', async (_name, uri) => {
    const result = await runCli(['clients', 'add', '--name', 'Bad', '--redirect-uri', uri, '--public', ...dataDir()]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--redirect-uri');
  });

  it('removes a client and its tokens', async () => {
    const redirectUri = 'http://127.0.0.1:7778/callback';
    const created = JSON.parse((await runCli(['clients', 'add', '--name', 'Doomed', '--redirect-uri', redirectUri, '--public', '--json', ...dataDir()])).stdout) as { client_id: string };
    const config = await client.discovery(new URL(server.issuer), created.client_id, undefined, client.None(), {
      execute: [client.allowInsecureRequests],
    });
    const { tokens } = await obtainTokens(server, { ...server.admin, redirectUri }, config);
    expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(200);

    const removed = await runCli(['clients', 'remove', created.client_id, '--json', ...dataDir()]);
    expect(removed.code, removed.stderr).toBe(0);
    // The gateway reuses a client check for up to DEFAULT_REVOCATION_CHECK_TTL_MS,
    // and a CLI process can finish sooner than that.
    await new Promise((resolve) => setTimeout(resolve, DEFAULT_REVOCATION_CHECK_TTL_MS));
    expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(401);

    const again = await runCli(['clients', 'remove', created.client_id, ...dataDir()]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('no client');
  });

  it('rejects a JWKS file that is not JSON', async () => {
    const secretFile = join(server.dataDir, 'server-secret');
    const secret = (await readFile(secretFile, 'utf8')).trim();
    const args = ['--name', 'Misfiled', '--confidential', '--grant', 'client_credentials', '--scope', 'orders:read'];
    const result = await runCli(['clients', 'add', ...args, '--auth', 'private_key_jwt', '--jwks-file', secretFile, ...dataDir()]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`--jwks-file ${secretFile}: is not valid JSON`);
    expect(result.stderr).not.toContain(secret.slice(0, 4));
    expect(result.stdout).not.toContain(secret.slice(0, 4));
  });

  it('rejects a JWK that cannot verify assertions', async () => {
    const jwksFile = join(server.dataDir, 'broken-jwks.json');
    await writeFile(jwksFile, JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', kid: 'no-point' }] }));
    const before = await runCli(['clients', 'list', '--json', ...dataDir()]);
    const args = ['--name', 'Broken keys', '--confidential', '--grant', 'client_credentials', '--scope', 'orders:read'];

    const result = await runCli(['clients', 'add', ...args, '--auth', 'private_key_jwt', '--jwks-file', jwksFile, ...dataDir()]);
    const after = await runCli(['clients', 'list', '--json', ...dataDir()]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`--jwks-file ${jwksFile}: key 0 cannot verify client assertions: it is not a valid public key (kty 'EC')`);
    expect(result.stderr).not.toContain('unexpected failure');
    expect(after.stdout).toBe(before.stdout);
  });

  it('rejects a client name with control characters', async () => {
    const result = await runCli(['clients', 'add', '--name', 'Bank\u202eppa', '--redirect-uri', 'https://app.example.test/cb', '--public', ...dataDir()]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--name contains U+202E, a control or format character');
  });

  it('counts client name characters in code points', async () => {
    const name = '\u{1f511}'.repeat(100);
    const result = await runCli(['clients', 'add', '--name', name, '--redirect-uri', 'https://app.example.test/cb', '--public', '--json', ...dataDir()]);

    expect(result.code, result.stderr).toBe(0);
    expect((JSON.parse(result.stdout) as { client_name: string }).client_name).toBe(name);
  });

  it('stores the ID token algorithm', async () => {
    const add = async (extra: string[]) => {
      const result = await runCli(['clients', 'add', '--name', 'Signed', '--json', ...extra, ...dataDir()]);
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(result.stdout) as { client_id: string; id_token_signed_response_alg?: string };
    };
    const rsa = await add(['--redirect-uri', 'https://app.example.test/cb', '--public', '--id-token-signed-response-alg', 'RS256']);
    const plain = await add(['--redirect-uri', 'https://app.example.test/cb', '--public']);
    const service = await add(['--confidential', '--grant', 'client_credentials', '--scope', 'orders:read']);
    const es = await add(['--redirect-uri', 'https://app.example.test/cb', '--public', '--id-token-signed-response-alg', 'ES256']);
    expect(rsa.id_token_signed_response_alg).toBe('RS256');
    expect(plain.id_token_signed_response_alg).toBe('RS256');
    expect(es.id_token_signed_response_alg).toBe('ES256');
    expect(service.id_token_signed_response_alg).toBeUndefined();
    // A client stored by an earlier version has no algorithm and gets ES256.
    const earlier = (await server.running.db.selectFrom('clients').select('metadata').where('client_id', '=', plain.client_id).executeTakeFirstOrThrow()).metadata;
    const { id_token_signed_response_alg: _stored, ...withoutAlgorithm } = JSON.parse(earlier) as Record<string, unknown>;
    await server.running.db
      .insertInto('clients')
      .values({ client_id: 'earlier-client', metadata: JSON.stringify({ ...withoutAlgorithm, client_id: 'earlier-client' }), created_at: 1 })
      .execute();

    const listed = JSON.parse((await runCli(['clients', 'list', '--json', ...dataDir()])).stdout) as Array<{ clientId: string; idTokenSignedResponseAlg: string | null }>;
    const algorithmOf = (clientId: string) => listed.find((entry) => entry.clientId === clientId)?.idTokenSignedResponseAlg;
    expect(algorithmOf(rsa.client_id)).toBe('RS256');
    expect(algorithmOf(plain.client_id)).toBe('RS256');
    expect(algorithmOf(es.client_id)).toBe('ES256');
    expect(algorithmOf('earlier-client')).toBe('ES256');
    expect(algorithmOf(service.client_id)).toBeNull();
  });

  it.each(['HS256', 'none', 'RS512', 'rs256', ''])('rejects the ID token algorithm %j', async (alg) => {
    const before = (await server.running.db.selectFrom('clients').select('client_id').execute()).length;
    const result = await runCli(['clients', 'add', '--name', 'Bad', '--redirect-uri', 'https://app.example.test/cb', '--public', '--id-token-signed-response-alg', alg, ...dataDir()]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--id-token-signed-response-alg must be one of ES256, RS256');
    expect((await server.running.db.selectFrom('clients').select('client_id').execute()).length).toBe(before);
  });

  it('rejects an ID token algorithm without code', async () => {
    const result = await runCli([
      'clients', 'add', '--name', 'Service', '--confidential', '--grant', 'client_credentials', '--scope', 'orders:read',
      '--id-token-signed-response-alg', 'RS256', ...dataDir(),
    ]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--id-token-signed-response-alg applies only to the authorization_code grant');
  });

  it('escapes stored text in lists', async () => {
    // Rows written by an earlier version, or directly in the database.
    const added = await runCli(['users', 'add', 'ivan', '--email', 'ivan@example.com', '--json', ...dataDir()], 'Sturdy-Passw0rd\n');
    const account = JSON.parse(added.stdout) as { id: string };
    await server.running.db.updateTable('accounts').set({ username: 'ivan\nroot', email: 'ivan@example.com\u001b[8m' }).where('id', '=', account.id).execute();
    const client = JSON.parse((await runCli(['clients', 'add', '--name', 'Plain', '--redirect-uri', 'https://app.example.test/cb', '--public', '--json', ...dataDir()])).stdout) as { client_id: string };
    const row = await server.running.db.selectFrom('clients').select('metadata').where('client_id', '=', client.client_id).executeTakeFirstOrThrow();
    const metadata = { ...(JSON.parse(row.metadata) as Record<string, unknown>), client_name: 'Plain\tforged\u200b' };
    await server.running.db.updateTable('clients').set({ metadata: JSON.stringify(metadata) }).where('client_id', '=', client.client_id).execute();

    const users = await runCli(['users', 'list', ...dataDir()]);
    expect(users.stdout).toContain('ivan\\u000aroot\tivan@example.com\\u001b[8m\t');
    expect(users.stdout.split('\n').filter((line) => line.startsWith('root'))).toEqual([]);
    expect(users.stdout).not.toContain('\u001b');

    const clients = await runCli(['clients', 'list', ...dataDir()]);
    const line = clients.stdout.split('\n').find((entry) => entry.startsWith(client.client_id));
    expect(line?.split('\t')[2]).toBe('Plain\\u0009forged\\u200b');
  });

  it('rotates the signing key without a restart', async () => {
    const before = await obtainTokens(server, server.admin);
    const oldKid = decodeProtectedHeader(before.tokens.access_token).kid;

    const result = await runCli(['keys', 'rotate', '--json', ...dataDir()]);
    expect(result.code).toBe(0);
    const rotated = JSON.parse(result.stdout) as Array<{ kid: string; alg: string }>;
    const kid = rotated.find((key) => key.alg === 'ES256')?.kid ?? '';
    expect(kid).not.toBe(oldKid);

    // The server polls the key table; wait a bounded time for it to notice.
    const deadline = Date.now() + 10_000;
    let kids: string[] = [];
    while (Date.now() < deadline) {
      const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> };
      kids = jwks.keys.map((key) => key.kid);
      if (kids.includes(kid)) {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(kids).toContain(kid);
    expect(kids).toContain(oldKid);

    // The new key signs a few seconds after it is published, so that every
    // instance has loaded it. Until then the old key signs.
    let after = await obtainTokens(server, server.admin);
    const signingDeadline = Date.now() + 15_000;
    while (decodeProtectedHeader(after.tokens.access_token).kid !== kid && Date.now() < signingDeadline) {
      expect(decodeProtectedHeader(after.tokens.access_token).kid).toBe(oldKid);
      await new Promise((resolve) => setTimeout(resolve, 500));
      after = await obtainTokens(server, server.admin);
    }
    expect(decodeProtectedHeader(after.tokens.access_token).kid).toBe(kid);
    expect((await callApi(server, '/orders', after.tokens.access_token)).status).toBe(200);
    expect((await callApi(server, '/orders', before.tokens.access_token)).status).toBe(200);

    const listed = JSON.parse((await runCli(['keys', 'list', '--json', ...dataDir()])).stdout) as Array<{ kid: string; state: string }>;
    expect(listed.find((key) => key.kid === kid)?.state).toBe('active');
    expect(listed.find((key) => key.kid === oldKid)?.state).toBe('retired');
  });
});
