import { randomBytes, randomUUID } from 'node:crypto';
import { Migrator, sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BackendUnavailableError, redactUrl } from '../../src/backends/backend-error.js';
import { generateSigningKey } from '../../src/keys/signing-keys.js';
import { epochSeconds, migrateToLatest, openDatabase } from '../../src/store/database.js';
import { CodeMigrationProvider } from '../../src/store/migrations.js';
import { AUDIT_EVENT_TYPES } from '../../src/audit/events.js';
import { AuditRepository } from '../../src/store/audit-repository.js';
import { ApiKeyRepository, type ApiKeyRecord } from '../../src/store/api-key-repository.js';
import { DuplicateError } from '../../src/store/errors.js';
import { deleteExpiredPayloads, isGrantActive } from '../../src/store/grant-queries.js';
import { OidcAdapter } from '../../src/store/oidc-adapter.js';
import { createRepositories, type Repositories } from '../../src/store/repositories.js';
import type { Database } from '../../src/store/schema.js';
import { DIALECTS, type TestDatabase } from '../support/databases.js';

/** Builds an API key record with a random id, an `orders:read` scope and nothing else set. */
function apiKeyRecord(fields: Partial<ApiKeyRecord> & Pick<ApiKeyRecord, 'hash' | 'ownerId' | 'name' | 'createdAt'>): ApiKeyRecord {
  return {
    id: randomUUID().slice(0, 12),
    environment: 'live',
    scopes: ['orders:read'],
    allowedCidrs: [],
    expiresAt: null,
    lastUsedAt: null,
    revokedAt: null,
    replacedBy: null,
    clientId: null,
    ...fields,
  };
}

describe.each(DIALECTS)('store on $name', ({ create }) => {
  let database: TestDatabase;
  let db: Kysely<Database>;
  let repositories: Repositories;

  beforeAll(async () => {
    database = await create();
    db = await openDatabase(database.url);
    repositories = createRepositories(db, randomBytes(32));
  });

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  async function createPublicClient(clientId: string, name: string): Promise<void> {
    await repositories.clients.create({
      client_id: clientId,
      client_name: name,
      redirect_uris: ['https://app.example.com/cb'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      application_type: 'web',
    });
  }

  it('applies migrations once', async () => {
    expect(await migrateToLatest(db)).toEqual([]);
  });

  it('stores accounts and names duplicates', async () => {
    const account = await repositories.accounts.create({ username: 'Alice', email: 'Alice@Example.com', passwordHash: 'h', roles: ['admin'] });

    const found = await repositories.accounts.findByUsername('alice');
    expect(found).toEqual(account);
    expect(found?.roles).toEqual(['admin']);
    expect(typeof found?.createdAt).toBe('number');
    expect(await repositories.accounts.count()).toBe(1);

    const sameUsername = repositories.accounts.create({ username: 'ALICE', email: 'other@example.com', passwordHash: 'h', roles: [] });
    await expect(sameUsername).rejects.toThrow(DuplicateError);
    await expect(sameUsername).rejects.toMatchObject({ field: 'username' });

    const sameEmail = repositories.accounts.create({ username: 'alice2', email: 'alice@example.com', passwordHash: 'h', roles: [] });
    await expect(sameEmail).rejects.toMatchObject({ field: 'email' });
  });

  it('stores clients with hashed secrets', async () => {
    await repositories.clients.create({
      client_id: 'machine',
      client_name: 'Machine',
      client_secret: 'a-secret-value',
      redirect_uris: [],
      grant_types: ['client_credentials'],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
      application_type: 'web',
    });

    expect(await repositories.clients.verifySecret('machine', 'a-secret-value')).toBe(true);
    expect(await repositories.clients.verifySecret('machine', 'wrong')).toBe(false);
    expect((await repositories.clients.list()).map((client) => client.clientId)).toEqual(['machine']);
    await expect(repositories.clients.create({ ...(await repositories.clients.find('machine'))!, client_secret: 'x' })).rejects.toMatchObject({
      field: 'client_id',
    });
  });

  it('removes a client with its grants and tokens', async () => {
    await createPublicClient('doomed', 'Doomed');
    const grants = new OidcAdapter(db, 'Grant', repositories.clients);
    const refreshTokens = new OidcAdapter(db, 'RefreshToken', repositories.clients);
    await grants.upsert('grant-doomed', { clientId: 'doomed', accountId: 'a' }, 3600);
    await refreshTokens.upsert('rt-doomed', { clientId: 'doomed', grantId: 'grant-doomed' }, 3600);

    expect(await repositories.clients.remove('doomed')).toBe(true);
    expect(await grants.find('grant-doomed')).toBeUndefined();
    expect(await refreshTokens.find('rt-doomed')).toBeUndefined();
    expect(await repositories.clients.remove('doomed')).toBe(false);
  });

  it('revokes the API keys of a removed client', async () => {
    await createPublicClient('key-minter', 'Key minter');
    const now = epochSeconds();
    const minted = apiKeyRecord({ hash: 'minted', ownerId: 'minter-owner', name: 'minted', createdAt: now, clientId: 'key-minter' });
    const otherClient = apiKeyRecord({ hash: 'other-client', ownerId: 'minter-owner', name: 'other client', createdAt: now, clientId: 'another-client' });
    const fromCli = apiKeyRecord({ hash: 'from-cli', ownerId: 'minter-owner', name: 'from the CLI', createdAt: now });
    for (const record of [minted, otherClient, fromCli]) {
      await repositories.apiKeys.create(record);
    }

    expect(await repositories.clients.remove('key-minter')).toBe(true);

    expect((await repositories.apiKeys.findById(minted.id))?.revokedAt).toBeTypeOf('number');
    expect((await repositories.apiKeys.findById(minted.id))?.clientId).toBe('key-minter');
    expect((await repositories.apiKeys.findById(otherClient.id))?.revokedAt).toBeNull();
    expect((await repositories.apiKeys.findById(fromCli.id))?.revokedAt).toBeNull();
    expect((await repositories.apiKeys.findById(fromCli.id))?.clientId).toBeNull();
  });

  it('rotates and revokes API keys', async () => {
    const now = epochSeconds();
    const record = apiKeyRecord({ hash: 'hash-1', ownerId: 'owner', name: 'first', allowedCidrs: ['10.0.0.0/8'], createdAt: now });
    await repositories.apiKeys.create(record);
    const successor = { ...record, id: randomUUID().slice(0, 12), hash: 'hash-2' };
    expect(await repositories.apiKeys.rotate(record.id, successor, now + 60)).toBe('rotated');

    const old = await repositories.apiKeys.findById(record.id);
    expect(old?.expiresAt).toBe(now + 60);
    expect(old?.replacedBy).toBe(successor.id);
    expect(old?.allowedCidrs).toEqual(['10.0.0.0/8']);
    expect(await repositories.apiKeys.revoke(successor.id, 'someone-else')).toBe(false);
    expect(await repositories.apiKeys.revoke(successor.id, 'owner')).toBe(true);
    expect(await repositories.apiKeys.revoke(successor.id)).toBe(false);
    expect((await repositories.apiKeys.list('owner')).map((key) => key.id).sort()).toEqual([record.id, successor.id].sort());
  });

  it('rotates a key once when two rotations race', async () => {
    const now = epochSeconds();
    const record = apiKeyRecord({ hash: 'hash-race', ownerId: 'race-owner', name: 'raced', createdAt: now, expiresAt: now + 30 });
    await repositories.apiKeys.create(record);
    const successors = [1, 2].map((index) => ({ ...record, id: randomUUID().slice(0, 12), hash: `hash-race-${index}` }));

    const results = await Promise.all(successors.map((successor) => repositories.apiKeys.rotate(record.id, successor, now + 60)));
    const stored = await repositories.apiKeys.list('race-owner');

    expect(results.filter((result) => result === 'rotated')).toHaveLength(1);
    expect(results.filter((result) => result === 'not_active')).toHaveLength(1);
    expect(stored).toHaveLength(2);
    expect(stored.find((key) => key.id === record.id)?.replacedBy).toBe(successors[results.indexOf('rotated')]?.id);
    // The key already expired sooner than the grace period would end.
    expect(stored.find((key) => key.id === record.id)?.expiresAt).toBe(now + 30);
  });

  it('rotates no revoked key', async () => {
    const now = epochSeconds();
    const record = apiKeyRecord({ hash: 'hash-revoked', ownerId: 'revoked-owner', name: 'revoked', createdAt: now });
    await repositories.apiKeys.create(record);
    await repositories.apiKeys.revoke(record.id);

    const rotated = await repositories.apiKeys.rotate(record.id, { ...record, id: randomUUID().slice(0, 12), hash: 'hash-revoked-2' }, now + 60);

    expect(rotated).toBe('not_active');
    expect((await repositories.apiKeys.list('revoked-owner')).map((key) => key.id)).toEqual([record.id]);
  });

  it('rotates no expired key', async () => {
    const now = epochSeconds();
    const record = apiKeyRecord({ hash: 'hash-expired', ownerId: 'expired-owner', name: 'expired', createdAt: now - 60, expiresAt: now - 1 });
    await repositories.apiKeys.create(record);

    const rotated = await repositories.apiKeys.rotate(record.id, { ...record, id: randomUUID().slice(0, 12), hash: 'hash-expired-2' }, now + 60);

    expect(rotated).toBe('not_active');
    expect((await repositories.apiKeys.list('expired-owner')).map((key) => key.id)).toEqual([record.id]);
  });

  it('keeps the newest ended API keys', async () => {
    const keys = new ApiKeyRepository(db, 2);
    const owner = await repositories.accounts.create({ username: 'key-churn', email: 'key-churn@example.com', passwordHash: 'h', roles: [] });
    const other = await repositories.accounts.create({ username: 'key-churn-other', email: 'key-churn-other@example.com', passwordHash: 'h', roles: [] });
    const now = epochSeconds();
    const record = (ownerId: string, index: number, fields: Partial<ApiKeyRecord> = {}) =>
      apiKeyRecord({ hash: `churn-${ownerId}-${index}`, ownerId, name: `churn ${index}`, createdAt: now - 100 + index, ...fields });

    const otherEnded = record(other.id, 0, { revokedAt: now - 50 });
    await keys.create(otherEnded);
    const active = record(owner.id, 0);
    await keys.create(active);
    // Revoked and expired keys, created one after another, then a new key and a rotation.
    const ended = [record(owner.id, 1, { revokedAt: now - 10 }), record(owner.id, 2, { expiresAt: now - 5 }), record(owner.id, 3, { revokedAt: now - 1 })];
    for (const key of ended) {
      await keys.create(key);
    }
    const remaining = async () => (await keys.list(owner.id)).map((key) => key.id).sort();

    expect(await remaining()).toEqual([active.id, ended[1]!.id, ended[2]!.id].sort());

    const created = record(owner.id, 4, { revokedAt: now });
    expect(await keys.createWithinLimit(created, 10)).toBe('created');
    expect(await remaining()).toEqual([active.id, ended[2]!.id, created.id].sort());

    const successor = record(owner.id, 5);
    expect(await keys.rotate(active.id, successor, now, 10)).toBe('rotated');
    expect(await remaining()).toEqual([created.id, successor.id, active.id].sort());
    // Another owner's ended key stays.
    expect((await keys.list(other.id)).map((key) => key.id)).toEqual([otherEnded.id]);
  });

  describe('API key rotation within the limit', () => {
    const LIMIT = 3;

    /** Creates an account with `LIMIT` active keys and returns its id and the keys. */
    async function ownerAtLimit(username: string): Promise<{ ownerId: string; keys: ApiKeyRecord[] }> {
      const owner = await repositories.accounts.create({ username, email: `${username}@example.com`, passwordHash: 'h', roles: [] });
      const keys = Array.from({ length: LIMIT }, (_, index) =>
        apiKeyRecord({ hash: `hash-${username}-${index}`, ownerId: owner.id, name: `key ${index}`, createdAt: epochSeconds() }),
      );
      for (const key of keys) {
        await repositories.apiKeys.create(key);
      }
      return { ownerId: owner.id, keys };
    }

    function successorOf(key: ApiKeyRecord): ApiKeyRecord {
      return { ...key, id: randomUUID().slice(0, 12), hash: `${key.hash}-next-${randomUUID()}` };
    }

    async function activeCount(ownerId: string): Promise<number> {
      const now = epochSeconds();
      const keys = await repositories.apiKeys.list(ownerId);
      return keys.filter((key) => key.revokedAt === null && (key.expiresAt === null || key.expiresAt > now)).length;
    }

    it('allows one key over the limit during grace', async () => {
      const { ownerId, keys } = await ownerAtLimit('rotation-limit');
      const [first, second] = keys as [ApiKeyRecord, ApiKeyRecord];
      const now = epochSeconds();

      const firstSuccessor = successorOf(first);
      expect(await repositories.apiKeys.rotate(first.id, firstSuccessor, now + 3600, LIMIT)).toBe('rotated');
      expect(await activeCount(ownerId)).toBe(LIMIT + 1);

      expect(await repositories.apiKeys.rotate(second.id, successorOf(second), now + 3600, LIMIT)).toBe('over_limit');
      expect(await repositories.apiKeys.rotate(firstSuccessor.id, successorOf(firstSuccessor), now + 3600, LIMIT)).toBe('over_limit');
      expect(await activeCount(ownerId)).toBe(LIMIT + 1);
      // The rejected rotation left its key as it was.
      expect((await repositories.apiKeys.findById(second.id))?.replacedBy).toBeNull();
      expect((await repositories.apiKeys.findById(second.id))?.expiresAt).toBeNull();
      expect(await repositories.apiKeys.createWithinLimit(successorOf(second), LIMIT)).toBe('over_limit');
    });

    it('rotates at the limit with no grace', async () => {
      const { ownerId, keys } = await ownerAtLimit('rotation-no-grace');
      const now = epochSeconds();

      for (const key of keys) {
        expect(await repositories.apiKeys.rotate(key.id, successorOf(key), now, LIMIT)).toBe('rotated');
      }
      expect(await activeCount(ownerId)).toBe(LIMIT);
    });

    it('admits one rotation of concurrent ones at the limit', async () => {
      const { ownerId, keys } = await ownerAtLimit('rotation-race');
      const now = epochSeconds();

      const results = await Promise.all([
        ...keys.map((key) => repositories.apiKeys.rotate(key.id, successorOf(key), now + 3600, LIMIT)),
        ...keys.map((key) => repositories.apiKeys.rotate(key.id, successorOf(key), now + 3600, LIMIT)),
      ]);

      expect(results.filter((result) => result === 'rotated')).toHaveLength(1);
      expect(await activeCount(ownerId)).toBe(LIMIT + 1);
    });

    it('keeps concurrent creations and rotations within one over', async () => {
      const username = 'rotation-create-race';
      const owner = await repositories.accounts.create({ username, email: `${username}@example.com`, passwordHash: 'h', roles: [] });
      const keys = Array.from({ length: LIMIT - 1 }, (_, index) =>
        apiKeyRecord({ hash: `hash-${username}-${index}`, ownerId: owner.id, name: `key ${index}`, createdAt: epochSeconds() }),
      );
      for (const key of keys) {
        await repositories.apiKeys.create(key);
      }
      const now = epochSeconds();

      await Promise.all([
        ...keys.map((key) => repositories.apiKeys.rotate(key.id, successorOf(key), now + 3600, LIMIT)),
        ...Array.from({ length: 4 }, (_, index) =>
          repositories.apiKeys.createWithinLimit(apiKeyRecord({ hash: `hash-${username}-new-${index}`, ownerId: owner.id, name: 'new', createdAt: now }), LIMIT),
        ),
      ]);

      expect(await activeCount(owner.id)).toBeLessThanOrEqual(LIMIT + 1);
      expect(await activeCount(owner.id)).toBeGreaterThanOrEqual(LIMIT);
    });
  });

  it('stores times after January 2038', async () => {
    // 2^31 seconds after the epoch is past the last second a 32-bit column holds.
    const later = 2 ** 31 + 86_400;
    const record = apiKeyRecord({ hash: 'hash-far', ownerId: 'far-owner', name: 'far', createdAt: later, expiresAt: later + 60, lastUsedAt: later + 1 });

    await repositories.apiKeys.create(record);
    await repositories.apiKeys.revoke(record.id);
    const stored = await repositories.apiKeys.findById(record.id);

    expect(stored?.createdAt).toBe(later);
    expect(stored?.expiresAt).toBe(later + 60);
    expect(stored?.lastUsedAt).toBe(later + 1);
    expect(typeof stored?.revokedAt).toBe('number');
  });

  it('keeps exactly one active signing key', async () => {
    await repositories.signingKeys.activate(await generateSigningKey());
    const second = await generateSigningKey();
    await repositories.signingKeys.activate(second);

    const states = await repositories.signingKeys.listStates();
    expect(states.filter((key) => key.retiredAt === null).map((key) => key.kid)).toEqual([second.kid]);
    const published = await repositories.signingKeys.listPublished(3600);
    expect(published[0]?.kid).toBe(second.kid);
    expect(published[0]?.privateJwk.d).toBe(second.d);
    expect(await repositories.signingKeys.deleteExpired(-1)).toBe(1);
  });

  it('upserts, finds and expires oidc payloads', async () => {
    const sessions = new OidcAdapter(db, 'Session', repositories.clients);
    await sessions.upsert('s1', { uid: 'uid-1', accountId: 'a' }, 60);
    await sessions.upsert('s1', { uid: 'uid-1', accountId: 'b' }, 60);
    expect((await sessions.find('s1'))?.accountId).toBe('b');
    expect((await sessions.findByUid('uid-1'))?.accountId).toBe('b');

    const interactions = new OidcAdapter(db, 'Interaction', repositories.clients);
    await interactions.upsert('gone', { uid: 'u' }, 1);
    await db.updateTable('oidc_payloads').set({ expires_at: epochSeconds() - 1 }).where('id', '=', 'gone').execute();
    expect(await interactions.find('gone')).toBeUndefined();
    expect(await deleteExpiredPayloads(db)).toBeGreaterThanOrEqual(1);
    expect(await db.selectFrom('oidc_payloads').select('id').where('id', '=', 'gone').executeTakeFirst()).toBeUndefined();

    await sessions.destroy('s1');
    expect(await sessions.find('s1')).toBeUndefined();
  });

  it('lets one consume win and revokes the grant on replay', async () => {
    const grants = new OidcAdapter(db, 'Grant', repositories.clients);
    const codes = new OidcAdapter(db, 'AuthorizationCode', repositories.clients);
    await grants.upsert('g-race', { accountId: 'a', clientId: 'c' }, 3600);
    await codes.upsert('code-race', { grantId: 'g-race' }, 60);
    expect(await isGrantActive(db, 'g-race')).toBe(true);

    const outcomes = await Promise.allSettled([codes.consume('code-race'), codes.consume('code-race')]);
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    expect(await isGrantActive(db, 'g-race')).toBe(false);
    expect(await codes.find('code-race')).toBeUndefined();
  });

  it('stores a replay detection entry once', async () => {
    const replays = new OidcAdapter(db, 'ReplayDetection', repositories.clients);
    const outcomes = await Promise.allSettled([
      replays.upsert('jti-race', { iss: 'c' }, 60),
      replays.upsert('jti-race', { iss: 'c' }, 60),
      replays.upsert('jti-race', { iss: 'c' }, 60),
    ]);
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    expect(outcomes.find((outcome) => outcome.status === 'rejected')).toMatchObject({ reason: { error: 'invalid_client' } });
    await expect(replays.upsert('jti-race', { iss: 'c' }, 60)).rejects.toMatchObject({ error: 'invalid_client' });

    await db.updateTable('oidc_payloads').set({ expires_at: epochSeconds() - 1 }).where('id', '=', 'jti-race').execute();
    await replays.upsert('jti-race', { iss: 'c' }, 60);
    expect(await replays.find('jti-race')).toBeDefined();
  });

  it('stores, queries and purges audit events', async () => {
    const audit = new AuditRepository(db);
    const base = { type: AUDIT_EVENT_TYPES[0], outcome: 'success', actor: 'a', clientId: null, keyId: null, sourceAddress: null, requestId: null, reason: null, detail: null } as const;
    // Milliseconds past 2^31, so the column must be 64 bits wide on both dialects.
    const now = Date.now();
    await audit.insert([
      { ...base, id: 'old', time: now - 60_000 },
      { ...base, id: 'new', time: now },
    ]);

    const events = await audit.query({ since: now - 120_000, limit: 10 });
    expect(events.map((event) => event.id)).toEqual(['new', 'old']);
    expect(events[0]?.time).toBe(now);
    expect(await audit.purgeOlderThan(now - 1000)).toBe(1);
    expect((await audit.query({ since: 0, limit: 10 })).map((event) => event.id)).toEqual(['new']);
  });

  it('revokes by grant id', async () => {
    const refreshTokens = new OidcAdapter(db, 'RefreshToken', repositories.clients);
    await refreshTokens.upsert('rt-1', { grantId: 'g-revoke' }, 3600);
    await refreshTokens.upsert('rt-2', { grantId: 'g-keep' }, 3600);
    await refreshTokens.revokeByGrantId('g-revoke');
    expect(await refreshTokens.find('rt-1')).toBeUndefined();
    expect(await refreshTokens.find('rt-2')).toBeDefined();
  });
});

describe('PostgreSQL migrations', () => {
  it('apply once when three instances start at once', async () => {
    const { createPostgresSchema } = await import('../support/databases.js');
    const database = await createPostgresSchema();
    const opened: Array<Kysely<Database>> = [];
    try {
      const results = await Promise.all([1, 2, 3].map(() => openDatabase(database.url, { migrate: false })));
      opened.push(...results);
      const applied = await Promise.all(opened.map((db) => migrateToLatest(db)));
      expect(applied.flat().sort()).toEqual(['0001_initial', '0002_api_keys', '0003_audit_events', '0004_wide_times', '0005_account_status', '0006_api_key_clients']);
    } finally {
      await Promise.all(opened.map((db) => db.destroy()));
      await database.drop();
    }
  });
});

describe('PostgreSQL time columns', () => {
  it('widen on a schema that holds data', async () => {
    const { createPostgresSchema } = await import('../support/databases.js');
    const database = await createPostgresSchema();
    const db = await openDatabase(database.url, { migrate: false });
    try {
      // The schema as the release before the widening left it.
      const migrations = await new CodeMigrationProvider().getMigrations();
      const before = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < '0004'));
      const schema = (await sql<{ name: string }>`select current_schema() as name`.execute(db)).rows[0]?.name;
      const { error } = await new Migrator({ db, provider: { getMigrations: async () => before }, migrationTableSchema: schema }).migrateToLatest();
      expect(error).toBeUndefined();
      const now = epochSeconds();
      await sql`insert into oidc_payloads (model, id, payload, expires_at) values ('AccessToken', 'live', '{}', ${now + 3600}), ('AccessToken', 'expired', '{}', ${now - 60})`.execute(db);
      await sql`insert into accounts values ('a1', 'old', 'old', 'old@example.com', 'h', '[]', ${2 ** 31 - 1}, ${now})`.execute(db);

      expect(await migrateToLatest(db)).toEqual(['0004_wide_times', '0005_account_status', '0006_api_key_clients']);

      const { rows: columns } = await sql<{ data_type: string }>`
        select data_type from information_schema.columns
        where table_schema = current_schema() and column_name in ('created_at', 'updated_at', 'expires_at', 'consumed_at', 'retired_at', 'last_used_at', 'revoked_at', 'occurred_at')`.execute(db);
      expect(columns.length).toBe(12);
      expect(columns.every((column) => column.data_type === 'bigint')).toBe(true);
      expect((await db.selectFrom('oidc_payloads').select('id').execute()).map((row) => row.id)).toEqual(['live']);
      expect((await db.selectFrom('accounts').select('created_at').executeTakeFirstOrThrow()).created_at).toBe(2 ** 31 - 1);
    } finally {
      await db.destroy();
      await database.drop();
    }
  });
});

describe('unreachable PostgreSQL', () => {
  it('names the backend, the address and the error', async () => {
    const { freePort } = await import('../support/server.js');
    const port = await freePort();
    const opening = openDatabase(`postgres://portcullis:hunter2-password@127.0.0.1:${port}/portcullis`);

    await expect(opening).rejects.toThrow(BackendUnavailableError);
    await expect(opening).rejects.toThrow(`PostgreSQL at postgres://portcullis:***@127.0.0.1:${port}/portcullis is unreachable: `);
    await expect(opening).rejects.toThrow(/ECONNREFUSED/);
    await expect(opening).rejects.not.toThrow(/hunter2/);
  });
});

describe('redactUrl', () => {
  it.each([
    ['postgres://admin:pa55word@127.0.0.1/portcullis', 'postgres://admin:***@127.0.0.1/portcullis'],
    ['postgresql://127.0.0.1:1/test?password=QuerySecret', 'postgresql://127.0.0.1:1/test?password=***'],
    ['redis://127.0.0.1:1/0?password=RedisQuery&db=2', 'redis://127.0.0.1:1/0?password=***&db=***'],
    ['http://127.0.0.1:9/v1?api_key=Key-Value-1', 'http://127.0.0.1:9/v1?api_key=***'],
    ['http://127.0.0.1:9/v1?Bare-Token-2', 'http://127.0.0.1:9/v1?***'],
    ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379'],
    ['sqlite:/var/lib/portcullis/portcullis.sqlite', 'sqlite:/var/lib/portcullis/portcullis.sqlite'],
    ['postgres://user:2024/Slash-Secret@127.0.0.1:5432/db', 'postgres://***@127.0.0.1:5432/db'],
    ['postgres://user:At@Secret-5@127.0.0.1/db', 'postgres://user:***@127.0.0.1/db'],
  ])('masks %s', (url, expected) => {
    expect(redactUrl(url)).toBe(expected);
  });

  it('masks a URL that does not parse', () => {
    const redacted = redactUrl('postgres://user:Pass-Word-3@[bad/db?password=Query-4#part');
    expect(redacted).not.toContain('Pass-Word-3');
    expect(redacted).not.toContain('Query-4');
    expect(redacted).toContain('password=***');
  });
});
