import { readFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { DEFAULT_REVOCATION_CHECK_TTL_MS } from '../../src/config/load.js';
import { ApiKeyRepository } from '../../src/store/api-key-repository.js';
import { createUser } from '../support/accounts.js';
import { runCli } from '../support/cli.js';
import { waitPast } from '../support/clock.js';
import { callApi, obtainTokens } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

interface CreatedKey {
  key: string;
  id: string;
  scopes: string[];
  state: string;
}

describe('API keys', () => {
  let upstream: Server;
  let received: IncomingHttpHeaders[];
  let server: TestServer;
  let owner: { id: string; username: string; password: string };

  beforeAll(async () => {
    received = [];
    upstream = createServer((request, response) => {
      received.push(request.headers);
      response.setHeader('content-type', 'application/json');
      response.end('{"items":[],"next_cursor":null}');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    server = await startTestServer({ upstreamUrl: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` });
    owner = await createUser(server, 'key_owner');
  });

  afterAll(async () => {
    await server.close();
    await new Promise((resolve) => upstream.close(resolve));
  });

  async function createKey(...args: string[]): Promise<CreatedKey> {
    const result = await runCli(['apikeys', 'create', '--owner', 'key_owner', '--name', 'test key', '--json', '--data-dir', server.dataDir, ...args]);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as CreatedKey;
  }

  async function withKey(key: string, path = '/orders', init: RequestInit = {}): Promise<Response> {
    return fetch(`${server.url}/api${path}`, { ...init, headers: { 'x-api-key': key, ...(init.headers as Record<string, string>) } });
  }

  async function expectInvalid(response: Response, key?: string): Promise<string> {
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect(response.headers.get('www-authenticate')).toContain('ApiKey realm="portcullis"');
    const body = await response.text();
    if (key !== undefined) {
      expect(body).not.toContain(key);
      expect(body).not.toContain(key.slice(9, 30));
    }
    return (JSON.parse(body) as { detail: string }).detail;
  }

  it('shows the key once and stores only a hash', async () => {
    const created = await createKey('--scope', 'orders:read');
    expect(created.key).toMatch(/^pcs_live_[0-9A-Za-z]{55}_[0-9A-Za-z]{6}$/);
    expect(created.key.slice(9, 21)).toBe(created.id);

    const listed = await runCli(['apikeys', 'list', '--json', '--data-dir', server.dataDir]);
    expect(listed.stdout).toContain(created.id);
    expect(listed.stdout).not.toContain(created.key);

    await server.running.db.selectFrom('api_keys').select('id').execute();
    for (const file of ['portcullis.sqlite', 'portcullis.sqlite-wal']) {
      const bytes = await readFile(join(server.dataDir, file)).catch(() => Buffer.alloc(0));
      expect(bytes.includes(Buffer.from(created.key)), file).toBe(false);
      expect(bytes.includes(Buffer.from(created.key.slice(21, 64))), file).toBe(false);
    }
  });

  it('authenticates in either header', async () => {
    const created = await createKey('--scope', 'orders:read');

    expect((await withKey(created.key)).status).toBe(200);
    const headers = received.at(-1) ?? {};
    expect(headers['x-portcullis-credential']).toBe('api_key');
    expect(headers['x-portcullis-key-id']).toBe(created.id);
    expect(headers['x-portcullis-subject']).toBe(owner.id);
    expect(headers['x-portcullis-scope']).toBe('orders:read');
    expect(JSON.stringify(headers)).not.toContain(created.key);

    const viaAuthorization = await fetch(`${server.url}/api/orders`, { headers: { authorization: `ApiKey ${created.key}` } });
    expect(viaAuthorization.status).toBe(200);
    const both = await fetch(`${server.url}/api/orders`, { headers: { authorization: `ApiKey ${created.key}`, 'x-api-key': created.key } });
    expect(both.status).toBe(200);
  });

  it('rejects a bad checksum without a store look-up', async () => {
    const created = await createKey('--scope', 'orders:read');
    const lookups = vi.spyOn(ApiKeyRepository.prototype, 'findById');
    const last = created.key.at(-1) === 'a' ? 'b' : 'a';

    const detail = await expectInvalid(await withKey(`${created.key.slice(0, -1)}${last}`), created.key);
    expect(detail).toContain('checksum');
    expect(lookups).not.toHaveBeenCalled();
    lookups.mockRestore();
  });

  it('rejects malformed keys in general terms', async () => {
    const { key } = await createKey('--scope', 'orders:read');
    // A different last character, even for a key that already ends in Z.
    const otherKey = `${key.slice(0, -1)}${key.at(-1) === 'Z' ? 'Y' : 'Z'}`;
    // A key of the wrong form is an invalid credential (401); headers that
    // cannot be read as one credential are a malformed request (400).
    const cases: Array<[string, Record<string, string>, number]> = [
      ['wrong prefix', { 'x-api-key': `sk_${key.slice(4)}` }, 401],
      ['truncated', { 'x-api-key': key.slice(0, -3) }, 401],
      ['too long', { 'x-api-key': `${key}A` }, 401],
      ['non-ASCII', { 'x-api-key': encodeURIComponent(`${key.slice(0, -1)}é`) }, 401],
      ['inner whitespace', { authorization: `ApiKey ${key.slice(0, 20)} ${key.slice(20)}` }, 400],
      ['different keys in both headers', { authorization: `ApiKey ${key}`, 'x-api-key': otherKey }, 400],
      ['a bearer token and a key', { authorization: 'Bearer abc', 'x-api-key': key }, 400],
      ['an unknown scheme', { authorization: `Basic ${key}` }, 401],
    ];

    for (const [name, headers, status] of cases) {
      const response = await fetch(`${server.url}/api/orders`, { headers });
      expect(response.status, name).toBe(status);
      const body = await response.text();
      expect(body, name).not.toContain(key);
    }
  });

  it('rejects several Authorization headers', async () => {
    const { key } = await createKey('--scope', 'orders:read');
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const outgoing = request(`${server.url}/api/orders`, { headers: ['Host', new URL(server.url).host, 'Authorization', `ApiKey ${key}`, 'Authorization', `ApiKey ${key}`] as never }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      outgoing.on('error', reject);
      outgoing.end();
    });
    expect(status).toBe(400);
  });

  it('treats dead keys alike', async () => {
    const revoked = await createKey('--scope', 'orders:read');
    const revokedByCli = await runCli(['apikeys', 'revoke', revoked.id, '--data-dir', server.dataDir]);
    expect(revokedByCli.code, revokedByCli.stderr).toBe(0);

    const expiring = await createKey('--scope', 'orders:read', '--expires-in', '1s');
    const rotated = await createKey('--scope', 'orders:read');
    const rotation = await runCli(['apikeys', 'rotate', rotated.id, '--grace', '0', '--json', '--data-dir', server.dataDir]);
    const successor = JSON.parse(rotation.stdout) as CreatedKey;

    const { generateApiKey } = await import('../../src/core/api-keys/format.js');
    const unknown = generateApiKey('live').value;
    await new Promise((resolve) => setTimeout(resolve, 2100));

    const details = new Set<string>();
    for (const key of [revoked.key, expiring.key, rotated.key, unknown]) {
      details.add(await expectInvalid(await withKey(key), key));
    }
    expect([...details]).toEqual(['The API key is invalid, revoked or expired.']);
    expect((await withKey(successor.key)).status).toBe(200);
    // Four CLI processes run in this test, several seconds apiece on a busy machine.
  }, 90_000);

  it('keeps a rotated key for the grace period', async () => {
    const original = await createKey('--scope', 'orders:read');
    // A CLI process can take seconds to exit on a busy machine, so the grace
    // period outlasts it and the first check still finds the old key valid.
    const rotation = await runCli(['apikeys', 'rotate', original.id, '--grace', '6s', '--json', '--data-dir', server.dataDir]);
    const successor = JSON.parse(rotation.stdout) as CreatedKey;

    expect((await withKey(original.key)).status).toBe(200);
    expect((await withKey(successor.key)).status).toBe(200);

    const old = await server.running.db.selectFrom('api_keys').select('expires_at').where('id', '=', original.id).executeTakeFirstOrThrow();
    expect(old.expires_at).not.toBeNull();
    await waitPast((old.expires_at as number) * 1000);
    expect((await withKey(original.key)).status).toBe(401);
    expect((await withKey(successor.key)).status).toBe(200);
  });

  it('enforces scopes per route', async () => {
    const reader = await createKey('--scope', 'orders:read');
    const write = await withKey(reader.key, '/orders', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"item":"x","quantity":1}' });
    expect(write.status).toBe(403);
    const problem = (await write.json()) as { code: string; detail: string };
    expect(problem.code).toBe('insufficient_scope');
    expect(problem.detail).toBe('The API key lacks the scope required by this operation: orders:write.');
  });

  it('rejects scopes beyond the owner', async () => {
    const result = await runCli(['apikeys', 'create', '--owner', 'key_owner', '--name', 'greedy', '--scope', 'admin', '--data-dir', server.dataDir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("scope not allowed: 'admin' (allowed for this owner: orders:read, orders:write)");
  });

  it('drops scopes of a lost role', async () => {
    const demoted = await createUser(server, 'demoted_owner', ['admin']);
    const create = async (...scopes: string[]): Promise<CreatedKey> => {
      const scopeArgs = scopes.flatMap((scope) => ['--scope', scope]);
      const result = await runCli(['apikeys', 'create', '--owner', 'demoted_owner', '--name', 'admin key', '--json', '--data-dir', server.dataDir, ...scopeArgs]);
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(result.stdout) as CreatedKey;
    };
    const adminOnly = await create('admin');
    const mixed = await create('admin', 'orders:read');

    const demote = await runCli(['users', 'roles', 'demoted_owner', '--none', '--data-dir', server.dataDir]);
    expect(demote.code, demote.stderr).toBe(0);

    const rejected = await withKey(adminOnly.key);
    expect(await expectInvalid(rejected, adminOnly.key)).toBe('The API key has no scope left that its owner may use.');
    expect((await withKey(mixed.key)).status).toBe(200);

    const expected = new Map([
      [adminOnly.id, []],
      [mixed.id, ['orders:read']],
    ]);
    const cliList = await runCli(['apikeys', 'list', '--owner', 'demoted_owner', '--json', '--data-dir', server.dataDir]);
    expect(cliList.code, cliList.stderr).toBe(0);
    const cliEntries = JSON.parse(cliList.stdout) as CreatedKey[];
    const { tokens } = await obtainTokens(server, demoted);
    const apiList = (await (await callApi(server, '/keys', tokens.access_token)).json()) as { items: CreatedKey[] };
    for (const entries of [cliEntries, apiList.items]) {
      for (const [id, scopes] of expected) {
        expect(entries.find((entry) => entry.id === id)?.scopes, id).toEqual(scopes);
      }
    }

    const textList = await runCli(['apikeys', 'list', '--owner', 'demoted_owner', '--data-dir', server.dataDir]);
    const lines = textList.stdout.split('\n');
    expect(lines.find((line) => line.startsWith(adminOnly.id))?.split('\t')[4]).toBe('no scopes');
    expect(lines.find((line) => line.startsWith(mixed.id))?.split('\t')[4]).toBe('orders:read');
  });

  it('rotates no key past a lost role', async () => {
    await createUser(server, 'rotated_owner', ['admin']);
    const created = await runCli(['apikeys', 'create', '--owner', 'rotated_owner', '--name', 'admin key', '--scope', 'admin', '--scope', 'orders:read', '--json', '--data-dir', server.dataDir]);
    expect(created.code, created.stderr).toBe(0);
    const key = JSON.parse(created.stdout) as CreatedKey;
    const demote = await runCli(['users', 'roles', 'rotated_owner', '--none', '--data-dir', server.dataDir]);
    expect(demote.code, demote.stderr).toBe(0);

    const rotated = await runCli(['apikeys', 'rotate', key.id, '--json', '--data-dir', server.dataDir]);

    expect(rotated.code).toBe(1);
    expect(rotated.stderr).toContain("the key carries scopes not allowed: 'admin'");
    expect(rotated.stderr).not.toContain('--grace');
    expect((await withKey(key.key)).status).toBe(200);
  });

  it('names each rejected scope', async () => {
    const { tokens } = await obtainTokens(server, { ...owner, scope: 'openid orders:read' });
    const json = { 'content-type': 'application/json' };
    const cases: Array<[string[], string]> = [
      [[''], "scope not allowed: '' (allowed for this owner and credential: orders:read)"],
      [['orders:read', 'orders:write'], "scope not allowed: 'orders:write' (allowed for this owner and credential: orders:read)"],
      [['openid'], "scope not allowed: 'openid' (allowed for this owner and credential: orders:read)"],
    ];
    for (const [scopes, detail] of cases) {
      const response = await callApi(server, '/keys', tokens.access_token, { method: 'POST', headers: json, body: JSON.stringify({ name: 'named scopes', scopes }) });
      expect(response.status, scopes.join(' ')).toBe(400);
      expect(((await response.json()) as { detail: string }).detail).toBe(`The API key request is invalid: ${detail}.`);
    }
  });

  it('keeps API keys off JWT-only routes', async () => {
    const admin = await runCli(['apikeys', 'create', '--owner', 'admin', '--name', 'admin key', '--scope', 'admin', '--json', '--data-dir', server.dataDir]);
    const key = (JSON.parse(admin.stdout) as CreatedKey).key;
    const response = await withKey(key, '/admin/orders');
    expect(response.status).toBe(401);
    expect(((await response.json()) as { detail: string }).detail).toBe('API keys are not accepted for this operation.');

    const anonymous = await fetch(`${server.url}/api/admin/orders`);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { detail: string }).detail).toBe('A credential is required: an access token ("Authorization: Bearer <token>").');
  });

  it('names a key sent as a bearer token', async () => {
    const { key } = await createKey('--scope', 'orders:read');

    const response = await fetch(`${server.url}/api/orders`, { headers: { authorization: `Bearer ${key}` } });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain('error="invalid_token"');
    const body = await response.text();
    expect(body).not.toContain(key);
    expect((JSON.parse(body) as { detail: string }).detail).toBe(
      'The access token is invalid: it has the form of an API key; send API keys as "X-API-Key: <key>" or "Authorization: ApiKey <key>".',
    );

    const jwtOnly = await fetch(`${server.url}/api/admin/orders`, { headers: { authorization: `Bearer ${key}` } });
    expect(jwtOnly.status).toBe(401);
    expect(((await jwtOnly.json()) as { detail: string }).detail).toBe(
      'The access token is invalid: it has the form of an API key, and this operation accepts only an access token ("Authorization: Bearer <token>").',
    );
  });

  it('restricts keys to their source ranges', async () => {
    const outside = await createKey('--scope', 'orders:read', '--cidr', '10.0.0.0/8');
    const inside = await createKey('--scope', 'orders:read', '--cidr', '127.0.0.0/8');

    const refused = await withKey(outside.key);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { detail: string }).detail).toBe('This API key may not be used from this address.');
    expect((await withKey(inside.key)).status).toBe(200);
    expect(server.logs.some((line) => line.includes('API key used from a disallowed address') && line.includes(outside.id))).toBe(true);
  });

  it('rejects a key in the query string', async () => {
    const { key } = await createKey('--scope', 'orders:read');
    for (const query of [`api_key=${key}`, `x=${key}`, `key=${key}`]) {
      const response = await fetch(`${server.url}/api/orders?${query}`);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { detail: string }).detail).toContain('X-API-Key header');
    }
    expect(server.logs.join('\n')).not.toContain(key);
  });

  it('rejects a credential pasted as a query name', async () => {
    const { key } = await createKey('--scope', 'orders:read');
    const { tokens } = await obtainTokens(server, owner);
    const cases: Array<[string, Record<string, string>]> = [
      [`/api/orders?${key}`, { 'x-api-key': key }],
      [`/api/orders?limit=5&${key}`, {}],
      [`/api/orders?${tokens.access_token}`, { authorization: `Bearer ${tokens.access_token}` }],
    ];

    for (const [target, headers] of cases) {
      const response = await fetch(`${server.url}${target}`, { headers });
      const body = await response.text();
      expect(response.status, target).toBe(400);
      expect(body, target).toContain('has the form of a credential');
      expect(body, target).not.toContain(key);
      expect(body, target).not.toContain(tokens.access_token);
    }

    // Requests that no route serves are logged too, with the name replaced.
    for (const query of [key, `${key}=`, `${key}=1`, `cursor=${key}`]) {
      expect((await fetch(`${server.url}/no-such-page?${query}`)).status, query).toBe(404);
    }

    const logs = server.logs.join('\n');
    expect(logs).not.toContain(key);
    expect(logs).not.toContain(tokens.access_token);
    const events = await server.running.db.selectFrom('audit_events').selectAll().execute();
    expect(JSON.stringify(events)).not.toContain(key);
  });

  it('rejects a key inside a query', async () => {
    const { key } = await createKey('--scope', 'orders:read');
    const forwardedBefore = received.length;
    const queries = [`%20${key}=1`, `+${key}`, `limit=10%20${key}`, `cursor=x${key}`, `q=Bearer%20${key}`, `filter=key:${key}`];

    for (const query of queries) {
      const response = await fetch(`${server.url}/api/orders?${query}`, { headers: { 'x-api-key': key } });
      const body = await response.text();
      expect(response.status, query).toBe(400);
      expect(body, query).not.toContain(key);
    }
    expect(received.length).toBe(forwardedBefore);

    for (const target of [`/no-such-page?limit=10%20${key}`, `/no-such-page?x${key}=1`, `/no-such-page/key:${key}`]) {
      const response = await fetch(`${server.url}${target}`);
      expect(response.status, target).toBe(404);
      expect(await response.text(), target).not.toContain(key);
    }
    expect(server.logs.join('\n')).not.toContain(key.slice(21, 64));
  });

  it('records the last use', async () => {
    const created = await createKey('--scope', 'orders:read');
    expect((await withKey(created.key)).status).toBe(200);

    // The gateway writes the last use after the response, so the test polls for it.
    const lastUsedAt = async () =>
      (await server.running.db.selectFrom('api_keys').select('last_used_at').where('id', '=', created.id).executeTakeFirstOrThrow()).last_used_at ?? 0;
    await expect.poll(lastUsedAt, { timeout: 5000, interval: 50 }).toBeGreaterThan(0);
  });

  it('lets users manage their own keys', async () => {
    const { tokens } = await obtainTokens(server, owner);
    const token = tokens.access_token;
    const json = { 'content-type': 'application/json' };

    const created = await callApi(server, '/keys', token, { method: 'POST', headers: json, body: JSON.stringify({ name: 'mine', scopes: ['orders:read'] }) });
    expect(created.status).toBe(201);
    expect(created.headers.get('cache-control')).toBe('no-store');
    const key = (await created.json()) as CreatedKey;
    expect((await withKey(key.key)).status).toBe(200);

    const listed = (await (await callApi(server, '/keys', token)).json()) as { items: Array<{ id: string }> };
    expect(listed.items.map((item) => item.id)).toContain(key.id);
    expect(JSON.stringify(listed)).not.toContain(key.key);

    const escalate = await callApi(server, '/keys', token, { method: 'POST', headers: json, body: JSON.stringify({ name: 'x', scopes: ['admin'] }) });
    expect(escalate.status).toBe(400);

    const byKey = await fetch(`${server.url}/api/keys`, { headers: { 'x-api-key': key.key } });
    expect(byKey.status).toBe(401);

    const other = await createUser(server, 'other_owner');
    const otherToken = (await obtainTokens(server, other)).tokens.access_token;
    expect((await callApi(server, `/keys/${key.id}`, otherToken, { method: 'DELETE' })).status).toBe(404);

    expect((await callApi(server, `/keys/${key.id}`, token, { method: 'DELETE' })).status).toBe(204);
    expect((await withKey(key.key)).status).toBe(401);
  });

  it('revokes the keys of a removed client', async () => {
    const redirectUri = 'http://127.0.0.1:7777/callback';
    const added = await runCli(['clients', 'add', '--name', 'Key minter', '--redirect-uri', redirectUri, '--public', '--json', '--data-dir', server.dataDir]);
    expect(added.code, added.stderr).toBe(0);
    const clientId = (JSON.parse(added.stdout) as { client_id: string }).client_id;
    const config = await client.discovery(new URL(server.issuer), clientId, undefined, client.None(), { execute: [client.allowInsecureRequests] });
    const token = (await obtainTokens(server, { ...owner, redirectUri }, config)).tokens.access_token;
    const json = { 'content-type': 'application/json' };
    const minted = await callApi(server, '/keys', token, { method: 'POST', headers: json, body: JSON.stringify({ name: 'minted', scopes: ['orders:read'] }) });
    const mintedKey = (await minted.json()) as CreatedKey;
    const rotation = await callApi(server, `/keys/${mintedKey.id}/rotate`, token, { method: 'POST', headers: json, body: JSON.stringify({ grace: '1h' }) });
    const rotatedKey = (await rotation.json()) as CreatedKey;
    const fromCli = await createKey('--scope', 'orders:read');
    expect((await withKey(mintedKey.key)).status).toBe(200);
    expect((await withKey(rotatedKey.key)).status).toBe(200);

    const removed = await runCli(['clients', 'remove', clientId, '--data-dir', server.dataDir]);
    expect(removed.code, removed.stderr).toBe(0);
    // The gateway reuses a key's lookup for up to gateway.revocationCheckTtlMs.
    await new Promise((resolve) => setTimeout(resolve, DEFAULT_REVOCATION_CHECK_TTL_MS));

    await expectInvalid(await withKey(mintedKey.key), mintedKey.key);
    await expectInvalid(await withKey(rotatedKey.key), rotatedKey.key);
    expect((await withKey(fromCli.key)).status).toBe(200);
  });

  it('rejects names with control characters', async () => {
    const { tokens } = await obtainTokens(server, owner);
    const json = { 'content-type': 'application/json' };
    const names: Array<[string, string]> = [
      ['a\u0000b\n\u001b[31m', 'U+0000'],
      ['trailing newline\n', 'U+000A'],
      ['right\u202eto left', 'U+202E'],
      ['zero\u200bwidth', 'U+200B'],
      ['\ufeffbyte order mark', 'U+FEFF'],
    ];

    for (const [name, label] of names) {
      const response = await callApi(server, '/keys', tokens.access_token, { method: 'POST', headers: json, body: JSON.stringify({ name, scopes: ['orders:read'] }) });
      expect(response.status, label).toBe(400);
      const problem = (await response.json()) as { code: string; detail: string };
      expect(problem.code, label).toBe('invalid_request');
      expect(problem.detail, label).toContain(`name contains ${label}, a control or format character`);
    }

    const listed = (await (await callApi(server, '/keys', tokens.access_token)).json()) as { items: Array<{ name: string }> };
    expect(listed.items.filter((item) => /[\u0000-\u001f\u200b\u202e\ufeff]/u.test(item.name))).toEqual([]);

    const cli = await runCli(['apikeys', 'create', '--owner', 'key_owner', '--name', 'tab\tforged', '--scope', 'orders:read', '--data-dir', server.dataDir]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain('name contains U+0009, a control or format character');
  });

  it('counts name characters in code points', async () => {
    const { tokens } = await obtainTokens(server, owner);
    const json = { 'content-type': 'application/json' };
    const create = (name: string) => callApi(server, '/keys', tokens.access_token, { method: 'POST', headers: json, body: JSON.stringify({ name, scopes: ['orders:read'] }) });

    const longest = await create('\u{1f511}'.repeat(100));
    const tooLong = await create('\u{1f511}'.repeat(101));

    expect(longest.status).toBe(201);
    expect(((await longest.json()) as { name: string }).name).toBe('\u{1f511}'.repeat(100));
    expect(tooLong.status).toBe(400);
  });

  it('names each owner in the listing', async () => {
    const created = await createKey('--scope', 'orders:read');

    const listed = await runCli(['apikeys', 'list', '--data-dir', server.dataDir]);
    expect(listed.code, listed.stderr).toBe(0);
    const line = listed.stdout.split('\n').find((entry) => entry.startsWith(created.id));
    expect(line?.split('\t')[2]).toBe('owner key_owner');

    const json = await runCli(['apikeys', 'list', '--json', '--data-dir', server.dataDir]);
    const entries = JSON.parse(json.stdout) as Array<{ id: string; owner: string | null; ownerId?: string }>;
    const entry = entries.find((candidate) => candidate.id === created.id);
    expect(entry?.owner).toBe('key_owner');
    expect(entry).not.toHaveProperty('ownerId');
  });

  it('escapes stored names in the listing', async () => {
    // A row written by an earlier version, which stored names as given.
    const created = await createKey('--scope', 'orders:read');
    await server.running.db.updateTable('api_keys').set({ name: 'a\u0000b\n\u001b[31mforged\u202e' }).where('id', '=', created.id).execute();

    const listed = await runCli(['apikeys', 'list', '--owner', 'key_owner', '--data-dir', server.dataDir]);
    expect(listed.code, listed.stderr).toBe(0);
    const line = listed.stdout.split('\n').find((entry) => entry.startsWith(created.id));
    expect(line).toContain('\ta\\u0000b\\u000a\\u001b[31mforged\\u202e\t');
    expect(listed.stdout).not.toMatch(/[\u0000\u001b\u202e]/u);
    expect(listed.stdout.split('\n').filter((entry) => entry.startsWith('forged'))).toEqual([]);

    const json = await runCli(['apikeys', 'list', '--owner', 'key_owner', '--json', '--data-dir', server.dataDir]);
    const entries = JSON.parse(json.stdout) as Array<{ id: string; name: string }>;
    expect(entries.find((entry) => entry.id === created.id)?.name).toBe('a\u0000b\n\u001b[31mforged\u202e');
  });

  it('stores each source range once', async () => {
    const { tokens } = await obtainTokens(server, owner);
    const json = { 'content-type': 'application/json' };
    const cidrs = ['10.0.0.0/8', '10.0.0.0/8', '10.1.2.3/8', '127.0.0.0/8', '2001:db8::/32', '2001:0db8:0::1/32'];
    const created = await callApi(server, '/keys', tokens.access_token, { method: 'POST', headers: json, body: JSON.stringify({ name: 'ranges', scopes: ['orders:read'], allowed_cidrs: cidrs }) });
    expect(created.status).toBe(201);
    const key = (await created.json()) as CreatedKey & { allowedCidrs: string[] };
    expect(key.allowedCidrs).toEqual(['10.0.0.0/8', '127.0.0.0/8', '2001:db8::/32']);

    const row = await server.running.db.selectFrom('api_keys').select('allowed_cidrs').where('id', '=', key.id).executeTakeFirstOrThrow();
    expect(JSON.parse(row.allowed_cidrs)).toEqual(['10.0.0.0/8', '127.0.0.0/8', '2001:db8::/32']);

    const invalid = await callApi(server, '/keys', tokens.access_token, { method: 'POST', headers: json, body: JSON.stringify({ name: 'bad range', scopes: ['orders:read'], allowed_cidrs: ['10.0.0.0/8', 'nonsense'] }) });
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { detail: string }).detail).toContain("'nonsense' is not a CIDR range");
  });

  it('rejects legacy IPv4 notations in ranges', async () => {
    const { tokens } = await obtainTokens(server, owner);
    const json = { 'content-type': 'application/json' };
    for (const cidr of ['10.1/16', '127.1/32', '0x7f.0.0.1/32', '017.0.0.0/8', '2130706433/32', '::ffff:017.0.0.0/104', '10.0.0.0/08']) {
      const before = (await server.running.db.selectFrom('api_keys').select('id').execute()).length;
      const response = await callApi(server, '/keys', tokens.access_token, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ name: 'legacy range', scopes: ['orders:read'], allowed_cidrs: ['192.0.2.0/24', cidr] }),
      });

      expect(response.status, cidr).toBe(400);
      expect(response.headers.get('content-type'), cidr).toContain('application/problem+json');
      expect(((await response.json()) as { detail: string }).detail, cidr).toContain(`'${cidr}'`);
      expect((await server.running.db.selectFrom('api_keys').select('id').execute()).length, cidr).toBe(before);
    }

    const cli = await runCli(['apikeys', 'create', '--owner', 'key_owner', '--name', 'legacy', '--scope', 'orders:read', '--cidr', '127.1/32', '--data-dir', server.dataDir]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain("'127.1/32' is not in standard notation");
  });

  it('rejects lifetimes beyond the bounds', async () => {
    const { tokens } = await obtainTokens(server, owner);
    const json = { 'content-type': 'application/json' };
    const create = (expiresIn: string) =>
      callApi(server, '/keys', tokens.access_token, { method: 'POST', headers: json, body: JSON.stringify({ name: `lifetime ${expiresIn}`, scopes: ['orders:read'], expires_in: expiresIn }) });

    for (const expiresIn of ['3651d', '999999999d', '87600001h']) {
      const response = await create(expiresIn);
      expect(response.status, expiresIn).toBe(400);
      expect(((await response.json()) as { detail: string }).detail, expiresIn).toContain('at most 3650 days');
    }
    const accepted = (await (await create('3650d')).json()) as CreatedKey;

    for (const grace of ['91d', '999999999d']) {
      const response = await callApi(server, `/keys/${accepted.id}/rotate`, tokens.access_token, { method: 'POST', headers: json, body: JSON.stringify({ grace }) });
      expect(response.status, grace).toBe(400);
      expect(((await response.json()) as { detail: string }).detail, grace).toContain('the grace period must be 0 or a duration of whole seconds up to 90d, such as 24h');
    }

    const listed = await callApi(server, '/keys', tokens.access_token);
    expect(listed.status).toBe(200);
    const names = ((await listed.json()) as { items: Array<{ name: string; state: string; id: string }> }).items;
    expect(names.filter((item) => item.name.startsWith('lifetime')).map((item) => item.name)).toEqual(['lifetime 3650d']);
    expect(names.find((item) => item.id === accepted.id)?.state).toBe('active');

    // A key stored before lifetimes were bounded may end after the latest JavaScript Date.
    await server.running.db.updateTable('api_keys').set({ expires_at: 86_400_000_000_000 }).where('id', '=', accepted.id).execute();
    const relisted = await callApi(server, '/keys', tokens.access_token);
    expect(relisted.status).toBe(200);
    const farKey = ((await relisted.json()) as { items: Array<{ id: string; expiresAt: string }> }).items.find((item) => item.id === accepted.id);
    expect(farKey?.expiresAt).toBe('+275760-09-13T00:00:00.000Z');

    const cli = await runCli(['apikeys', 'create', '--owner', 'key_owner', '--name', 'cli lifetime', '--scope', 'orders:read', '--expires-in', '999999999d', '--data-dir', server.dataDir]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain('at most 3650 days');
    const rotate = await runCli(['apikeys', 'rotate', accepted.id, '--grace', '100d', '--data-dir', server.dataDir]);
    expect(rotate.code).toBe(1);
    expect(rotate.stderr).toContain('--grace: the grace period must be 0 or a duration of whole seconds up to 90d');
  });

  it('limits rotation to the token scopes', async () => {
    const writer = await createKey('--scope', 'orders:write');
    const { tokens } = await obtainTokens(server, { ...owner, scope: 'openid orders:read' });
    const json = { 'content-type': 'application/json' };

    const rotation = await callApi(server, `/keys/${writer.id}/rotate`, tokens.access_token, { method: 'POST', headers: json, body: JSON.stringify({ grace: '0' }) });

    expect(rotation.status).toBe(400);
    const body = await rotation.text();
    expect(body).toContain("the key carries scopes not allowed: 'orders:write' (allowed for this owner and credential: orders:read)");
    expect(body).not.toContain('pcs_');
    expect((await withKey(writer.key, '/orders', { method: 'POST', headers: json, body: '{"item":"pen","quantity":1}' })).status).toBe(200);
    const listed = (await (await callApi(server, '/keys', tokens.access_token)).json()) as { items: Array<{ id: string; state: string; replacedBy: string | null }> };
    expect(listed.items.find((item) => item.id === writer.id)).toMatchObject({ state: 'active', replacedBy: null });
  });

  it('rejects a key rotated through the API at once', async () => {
    const { tokens } = await obtainTokens(server, owner);
    const token = tokens.access_token;
    const json = { 'content-type': 'application/json' };
    const created = await callApi(server, '/keys', token, { method: 'POST', headers: json, body: JSON.stringify({ name: 'rotated', scopes: ['orders:read'] }) });
    const original = (await created.json()) as CreatedKey;
    expect((await withKey(original.key)).status).toBe(200);

    const rotation = await callApi(server, `/keys/${original.id}/rotate`, token, { method: 'POST', headers: json, body: JSON.stringify({ grace: '0' }) });
    expect(rotation.status).toBe(201);
    const successor = (await rotation.json()) as CreatedKey;

    await expectInvalid(await withKey(original.key), original.key);
    expect((await withKey(successor.key)).status).toBe(200);
  });

  it('rotates without a body', async () => {
    const { tokens } = await obtainTokens(server, owner);
    const created = await callApi(server, '/keys', tokens.access_token, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'no body', scopes: ['orders:read'] }) });
    const original = (await created.json()) as CreatedKey;

    const rotation = await callApi(server, `/keys/${original.id}/rotate`, tokens.access_token, { method: 'POST' });
    expect(rotation.status).toBe(201);
    const successor = (await rotation.json()) as CreatedKey & { expiresAt: string | null };
    expect(successor.expiresAt).toBeNull();

    // The default grace period is 24 hours, so the old key keeps working.
    expect((await withKey(original.key)).status).toBe(200);
    expect((await withKey(successor.key)).status).toBe(200);
    const listed = (await (await callApi(server, '/keys', tokens.access_token)).json()) as { items: Array<{ id: string; state: string; expiresAt: string }> };
    const old = listed.items.find((item) => item.id === original.id);
    expect(old?.state).toBe('rotating');
    expect(Date.parse(old?.expiresAt ?? '') - Date.now()).toBeGreaterThan(23 * 3600 * 1000);
  });

  it('rejects bodies that are not objects', async () => {
    const { tokens } = await obtainTokens(server, owner);
    const json = { 'content-type': 'application/json' };
    const created = (await (await callApi(server, '/keys', tokens.access_token, { method: 'POST', headers: json, body: JSON.stringify({ name: 'not object', scopes: ['orders:read'] }) })).json()) as CreatedKey;
    const keysBefore = (await server.running.db.selectFrom('api_keys').select('id').execute()).length;

    for (const body of ['null', ' null ', '[]', '"x"', '1', 'true']) {
      for (const path of ['/keys', `/keys/${created.id}/rotate`]) {
        const response = await callApi(server, path, tokens.access_token, { method: 'POST', headers: json, body });
        expect(response.status, `${path} ${body}`).toBe(400);
        expect(response.headers.get('content-type'), `${path} ${body}`).toContain('application/problem+json');
        const problem = (await response.json()) as { code: string; detail: string };
        expect(problem.code, `${path} ${body}`).toBe('validation_failed');
        expect(problem.detail, `${path} ${body}`).toContain('/body: must be object');
      }
    }

    expect((await server.running.db.selectFrom('api_keys').select('id').execute()).length).toBe(keysBefore);
    const listed = (await (await callApi(server, '/keys', tokens.access_token)).json()) as { items: Array<{ id: string; state: string }> };
    expect(listed.items.find((item) => item.id === created.id)?.state).toBe('active');
  });

  it('rejects bodies JSON parsers read differently', async () => {
    const { tokens } = await obtainTokens(server, owner);
    const json = { 'content-type': 'application/json' };
    const created = (await (await callApi(server, '/keys', tokens.access_token, { method: 'POST', headers: json, body: JSON.stringify({ name: 'parsers', scopes: ['orders:read'] }) })).json()) as CreatedKey;
    const keysBefore = (await server.running.db.selectFrom('api_keys').select('id').execute()).length;
    const cases: Array<[string, string, string, string, string]> = [
      ['repeated member', '/keys', 'application/json', '{"name":"twice","scopes":["orders:write"],"scopes":["orders:read"]}', 'invalid_json'],
      ['repeated escaped member', '/keys', 'application/json', '{"name":"twice","scopes":["orders:read"],"\\u0073copes":["orders:read"]}', 'invalid_json'],
      ['repeated member in rotation', `/keys/${created.id}/rotate`, 'application/json', '{"grace":"0","grace":"1h"}', 'invalid_json'],
      ['invalid UTF-8', '/keys', 'application/json', '{"name":"\xff","scopes":["orders:read"]}', 'invalid_json'],
      ['UTF-16 charset', '/keys', 'application/json; charset=utf-16', JSON.stringify({ name: 'utf16', scopes: ['orders:read'] }), 'unsupported_media_type'],
      ['Latin-1 charset', `/keys/${created.id}/rotate`, 'application/json; charset=iso-8859-1', '{}', 'unsupported_media_type'],
    ];

    for (const [name, path, contentType, text, code] of cases) {
      const body = name === 'invalid UTF-8' ? Buffer.from(text, 'latin1') : text;
      const response = await callApi(server, path, tokens.access_token, { method: 'POST', headers: { 'content-type': contentType }, body });
      expect(response.status, name).toBe(code === 'invalid_json' ? 400 : 415);
      expect(response.headers.get('content-type'), name).toContain('application/problem+json');
      expect(((await response.json()) as { code: string }).code, name).toBe(code);
    }

    expect((await server.running.db.selectFrom('api_keys').select('id').execute()).length).toBe(keysBefore);
    const listed = (await (await callApi(server, '/keys', tokens.access_token)).json()) as { items: Array<{ id: string; state: string }> };
    expect(listed.items.find((item) => item.id === created.id)?.state).toBe('active');
  });

  it('accepts UTF-8 bodies with a charset or BOM', async () => {
    const { tokens } = await obtainTokens(server, owner);
    const bodies: Array<[string, string]> = [
      ['application/json; charset=utf-8', JSON.stringify({ name: 'charset', scopes: ['orders:read'] })],
      ['application/json; charset="UTF-8"', JSON.stringify({ name: 'quoted charset', scopes: ['orders:read'] })],
      ['application/json', `\ufeff${JSON.stringify({ name: 'byte order mark', scopes: ['orders:read'] })}`],
    ];

    for (const [contentType, body] of bodies) {
      const response = await callApi(server, '/keys', tokens.access_token, { method: 'POST', headers: { 'content-type': contentType }, body });
      expect(response.status, contentType).toBe(201);
    }
  });

  it('rejects unknown query parameters', async () => {
    const { tokens } = await obtainTokens(server, owner);
    const json = { 'content-type': 'application/json' };
    const created = (await (await callApi(server, '/keys', tokens.access_token, { method: 'POST', headers: json, body: JSON.stringify({ name: 'query', scopes: ['orders:read'] }) })).json()) as CreatedKey;
    const cases: Array<[string, string, RequestInit]> = [
      ['list', '/keys?owner=someone', {}],
      ['create', '/keys?owner=someone', { method: 'POST', headers: json, body: JSON.stringify({ name: 'x', scopes: ['orders:read'] }) }],
      ['rotate', `/keys/${created.id}/rotate?grace=0`, { method: 'POST' }],
      ['revoke', `/keys/${created.id}?force=1`, { method: 'DELETE' }],
    ];

    for (const [name, path, init] of cases) {
      const response = await callApi(server, path, tokens.access_token, init);
      expect(response.status, name).toBe(400);
      const problem = (await response.json()) as { code: string; errors: Array<{ pointer: string }> };
      expect(problem.code, name).toBe('validation_failed');
      expect(problem.errors[0]?.pointer, name).toMatch(/^\/querystring\/(owner|grace|force)$/);
    }

    const listed = (await (await callApi(server, '/keys', tokens.access_token)).json()) as { items: Array<{ id: string; state: string; name: string }> };
    expect(listed.items.find((item) => item.id === created.id)?.state).toBe('active');
    expect(listed.items.filter((item) => item.name === 'x')).toEqual([]);
  });
});
