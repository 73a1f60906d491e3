import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { runCli } from '../support/cli.js';
import { waitPast } from '../support/clock.js';
import { writeConfigFile } from '../support/config-file.js';
import { DIALECTS, type TestDatabase } from '../support/databases.js';
import { callApi, obtainTokens } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

const LIMIT = 3;
const JSON_HEADERS = { 'content-type': 'application/json' };

interface CreatedKey {
  id: string;
  key: string;
  expiresAt: string | null;
}

interface Problem {
  code: string;
  detail: string;
}

describe('API key limit per owner', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ config: await writeConfigFile({ apiKeys: { maxActivePerOwner: LIMIT } }) });
  });

  afterAll(async () => {
    await server.close();
  });

  async function tokenFor(username: string): Promise<string> {
    const user = await createUser(server, username);
    return (await obtainTokens(server, user)).tokens.access_token;
  }

  function create(token: string, name: string, extra: Record<string, unknown> = {}): Promise<Response> {
    return callApi(server, '/keys', token, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ name, scopes: ['orders:read'], ...extra }) });
  }

  async function createOrFail(token: string, name: string, extra: Record<string, unknown> = {}): Promise<CreatedKey> {
    const response = await create(token, name, extra);
    expect(response.status, name).toBe(201);
    return (await response.json()) as CreatedKey;
  }

  async function expectLimitReached(response: Response): Promise<void> {
    expect(response.status).toBe(409);
    const problem = (await response.json()) as Problem;
    expect(problem.code).toBe('conflict');
    expect(problem.detail).toContain(`You have ${LIMIT} active API keys, the maximum`);
  }

  it('rejects a key beyond the limit', async () => {
    const token = await tokenFor('limit_full');
    for (let index = 0; index < LIMIT; index += 1) {
      await createOrFail(token, `key ${index}`);
    }

    await expectLimitReached(await create(token, 'one too many'));
    const listed = (await (await callApi(server, '/keys', token)).json()) as { items: Array<{ name: string }> };
    expect(listed.items).toHaveLength(LIMIT);
  });

  it('frees a place when a key is revoked or expires', async () => {
    const token = await tokenFor('limit_freed');
    const first = await createOrFail(token, 'first');
    await createOrFail(token, 'second');
    // Long enough that the next request surely comes before the expiry.
    const shortLived = await createOrFail(token, 'short-lived', { expires_in: '4s' });
    await expectLimitReached(await create(token, 'blocked'));

    await waitPast(shortLived.expiresAt as string);
    await createOrFail(token, 'after expiry');
    await expectLimitReached(await create(token, 'blocked again'));

    expect((await callApi(server, `/keys/${first.id}`, token, { method: 'DELETE' })).status).toBe(204);
    await createOrFail(token, 'after revocation');
  });

  it('rotates a key at the limit', async () => {
    const token = await tokenFor('limit_rotation');
    const keys: CreatedKey[] = [];
    for (let index = 0; index < LIMIT; index += 1) {
      keys.push(await createOrFail(token, `key ${index}`));
    }
    const original = keys[0] as CreatedKey;

    const rotation = await callApi(server, `/keys/${original.id}/rotate`, token, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ grace: '1s' }) });
    expect(rotation.status).toBe(201);
    const successor = (await rotation.json()) as CreatedKey;
    expect((await fetch(`${server.url}/api/orders`, { headers: { 'x-api-key': successor.key } })).status).toBe(200);

    // The old key counts until its grace period ends, and then the owner is back at the limit.
    await expectLimitReached(await create(token, 'during grace'));
    await new Promise((resolve) => setTimeout(resolve, 2100));
    await expectLimitReached(await create(token, 'after grace'));
    const listed = (await (await callApi(server, '/keys', token)).json()) as { items: Array<{ state: string }> };
    expect(listed.items.filter((item) => item.state === 'active')).toHaveLength(LIMIT);
  });

  function rotate(token: string, id: string, grace: string): Promise<Response> {
    return callApi(server, `/keys/${id}/rotate`, token, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ grace }) });
  }

  async function expectRotationLimitReached(response: Response): Promise<void> {
    expect(response.status).toBe(409);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    const problem = (await response.json()) as Problem;
    expect(problem.code).toBe('conflict');
    expect(problem.detail).toContain(`the maximum of ${LIMIT}, and one more while a rotated key is in its grace period`);
  }

  async function activeKeys(token: string): Promise<Array<{ id: string; state: string }>> {
    const listed = (await (await callApi(server, '/keys', token)).json()) as { items: Array<{ id: string; state: string }> };
    return listed.items.filter((item) => item.state === 'active' || item.state === 'rotating');
  }

  it('rotates only one key over the limit', async () => {
    const token = await tokenFor('limit_rotations');
    const keys: CreatedKey[] = [];
    for (let index = 0; index < LIMIT; index += 1) {
      keys.push(await createOrFail(token, `key ${index}`));
    }
    const [first, second] = keys as [CreatedKey, CreatedKey];

    const rotation = await rotate(token, first.id, '1h');
    expect(rotation.status).toBe(201);
    const successor = (await rotation.json()) as CreatedKey;

    await expectRotationLimitReached(await rotate(token, second.id, '1h'));
    await expectRotationLimitReached(await rotate(token, successor.id, '1h'));
    await expectLimitReached(await create(token, 'during grace'));
    expect(await activeKeys(token)).toHaveLength(LIMIT + 1);
    // The rejected rotation left the key as it was.
    expect((await activeKeys(token)).find((item) => item.id === second.id)?.state).toBe('active');

    // A rotation without grace ends the old key at once, so it adds nothing.
    expect((await rotate(token, second.id, '0')).status).toBe(201);
    expect(await activeKeys(token)).toHaveLength(LIMIT + 1);

    expect((await callApi(server, `/keys/${first.id}`, token, { method: 'DELETE' })).status).toBe(204);
    expect((await rotate(token, successor.id, '1h')).status).toBe(201);
    expect(await activeKeys(token)).toHaveLength(LIMIT + 1);
  });

  it('lets the admin CLI exceed the limit', async () => {
    const token = await tokenFor('limit_admin');
    for (let index = 0; index < LIMIT; index += 1) {
      await createOrFail(token, `key ${index}`);
    }

    const result = await runCli(['apikeys', 'create', '--owner', 'limit_admin', '--name', 'issued by an admin', '--scope', 'orders:read', '--json', '--data-dir', server.dataDir]);
    expect(result.code, result.stderr).toBe(0);
    const listed = (await (await callApi(server, '/keys', token)).json()) as { items: unknown[] };
    expect(listed.items).toHaveLength(LIMIT + 1);
    await expectLimitReached(await create(token, 'still blocked'));
  });
});

describe.each(DIALECTS)('API key limit under concurrent requests on $name', ({ create: createDatabase }) => {
  let database: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    database = await createDatabase();
    server = await startTestServer({ config: await writeConfigFile({ apiKeys: { maxActivePerOwner: LIMIT } }), databaseUrl: database.url });
  });

  afterAll(async () => {
    await server?.close();
    await database?.drop();
  });

  async function tokenFor(username: string): Promise<string> {
    const user = await createUser(server, username);
    return (await obtainTokens(server, user)).tokens.access_token;
  }

  function create(token: string, name: string): Promise<Response> {
    return callApi(server, '/keys', token, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ name, scopes: ['orders:read'] }) });
  }

  function rotate(token: string, id: string, grace: string): Promise<Response> {
    return callApi(server, `/keys/${id}/rotate`, token, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ grace }) });
  }

  async function activeKeys(token: string): Promise<Array<{ id: string; state: string }>> {
    const listed = (await (await callApi(server, '/keys', token)).json()) as { items: Array<{ id: string; state: string }> };
    return listed.items.filter((item) => item.state === 'active' || item.state === 'rotating');
  }

  async function createKeys(token: string, count: number): Promise<CreatedKey[]> {
    const keys: CreatedKey[] = [];
    for (let index = 0; index < count; index += 1) {
      const response = await create(token, `key ${index}`);
      expect(response.status).toBe(201);
      keys.push((await response.json()) as CreatedKey);
    }
    return keys;
  }

  it('admits only the limit from concurrent requests', async () => {
    const token = await tokenFor('limit_race');
    const responses = await Promise.all(Array.from({ length: LIMIT + 4 }, (_, index) => create(token, `racer ${index}`)));
    const statuses = responses.map((response) => response.status).sort();

    expect(statuses.filter((status) => status === 201)).toHaveLength(LIMIT);
    expect(statuses.filter((status) => status === 409)).toHaveLength(4);
  });

  it('admits one of concurrent rotations at the limit', async () => {
    const token = await tokenFor('limit_rotation_race');
    const keys = await createKeys(token, LIMIT);

    const responses = await Promise.all([...keys, ...keys].map((key) => rotate(token, key.id, '1h')));
    const statuses = responses.map((response) => response.status);

    expect(statuses.filter((status) => status === 201)).toHaveLength(1);
    expect(statuses.filter((status) => status === 201 || status === 404 || status === 409)).toHaveLength(responses.length);
    expect(await activeKeys(token)).toHaveLength(LIMIT + 1);
  });

  it('keeps concurrent creations and rotations within one over', async () => {
    const token = await tokenFor('limit_mixed_race');
    const keys = await createKeys(token, LIMIT - 1);

    const responses = await Promise.all([
      ...keys.map((key) => rotate(token, key.id, '1h')),
      ...Array.from({ length: 4 }, (_, index) => create(token, `racer ${index}`)),
    ]);

    expect(responses.every((response) => response.status === 201 || response.status === 409)).toBe(true);
    expect((await activeKeys(token)).length).toBeLessThanOrEqual(LIMIT + 1);
  });
});
