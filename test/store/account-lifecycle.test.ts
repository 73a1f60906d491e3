import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ApiKeyOwnerInactiveError, ApiKeyService } from '../../src/api-keys/api-key-service.js';
import { KeyedHash } from '../../src/core/keyed-hash.js';
import { epochSeconds, openDatabase } from '../../src/store/database.js';
import { OidcAdapter } from '../../src/store/oidc-adapter.js';
import { createRepositories, type Repositories } from '../../src/store/repositories.js';
import type { Database } from '../../src/store/schema.js';
import { DIALECTS, type TestDatabase } from '../support/databases.js';

/** Stores a grant of `accountId` with a refresh token and an authorization code under it, and a session, as oidc-provider would. */
async function signedInAccount(db: Kysely<Database>, repositories: Repositories, accountId: string): Promise<{ grantId: string; sessionId: string }> {
  const grantId = randomUUID();
  const sessionId = randomUUID();
  const adapter = (model: string) => new OidcAdapter(db, model, repositories.clients);

  await adapter('Grant').upsert(grantId, { accountId, clientId: 'app', jti: grantId }, 3600);
  await adapter('RefreshToken').upsert(randomUUID(), { accountId, clientId: 'app', grantId }, 3600);
  await adapter('AuthorizationCode').upsert(randomUUID(), { accountId, clientId: 'app', grantId }, 60);
  await adapter('Session').upsert(sessionId, { accountId, uid: randomUUID() }, 3600);
  return { grantId, sessionId };
}

async function payloadsOf(db: Kysely<Database>, accountId: string): Promise<string[]> {
  const rows = await db.selectFrom('oidc_payloads').select(['model', 'payload']).execute();
  return rows
    .filter((row) => (JSON.parse(row.payload) as { accountId?: string }).accountId === accountId)
    .map((row) => row.model)
    .sort();
}

describe.each(DIALECTS)('account lifecycle on $name', ({ create }) => {
  let database: TestDatabase;
  let db: Kysely<Database>;
  let repositories: Repositories;

  beforeAll(async () => {
    database = await create();
    db = await openDatabase(database.url);
    repositories = createRepositories(db, Buffer.alloc(32, 7));
  });

  afterAll(async () => {
    await db.destroy();
    await database.drop();
  });

  async function account(username: string, roles: string[] = []) {
    return repositories.accounts.create({ username, email: `${username}@example.com`, passwordHash: 'hash', roles });
  }

  async function apiKey(ownerId: string): Promise<string> {
    const id = randomUUID().slice(0, 12);
    await repositories.apiKeys.create({
      id,
      hash: 'hash',
      environment: 'live',
      ownerId,
      name: 'key',
      scopes: ['orders:read'],
      allowedCidrs: [],
      createdAt: epochSeconds(),
      expiresAt: null,
      lastUsedAt: null,
      revokedAt: null,
      replacedBy: null,
      clientId: null,
    });
    return id;
  }

  it('disable revokes only that account', async () => {
    const target = await account('lifecycle_target');
    const bystander = await account('lifecycle_bystander');
    await signedInAccount(db, repositories, target.id);
    await signedInAccount(db, repositories, target.id);
    await signedInAccount(db, repositories, bystander.id);
    const targetKey = await apiKey(target.id);
    const bystanderKey = await apiKey(bystander.id);

    const result = await repositories.accounts.disable(target.id);

    expect(result).toEqual({ alreadyDisabled: false, revoked: { grants: 2, apiKeys: 1 } });
    expect(await payloadsOf(db, target.id)).toEqual([]);
    expect(await payloadsOf(db, bystander.id)).toEqual(['AuthorizationCode', 'Grant', 'RefreshToken', 'Session']);
    expect((await repositories.apiKeys.findById(targetKey))?.revokedAt).not.toBeNull();
    expect((await repositories.apiKeys.findById(bystanderKey))?.revokedAt).toBeNull();
  });

  it('creates no key once disabled', async () => {
    const service = new ApiKeyService(repositories.apiKeys, repositories.accounts, new KeyedHash(Buffer.alloc(32, 9)));
    const disabled = await account('lifecycle_late_key');
    const removed = await account('lifecycle_removed_key');
    // Both accounts were read, as a request reads its caller, before an administrator acted.
    await repositories.accounts.disable(disabled.id);
    await repositories.accounts.remove(removed.id);

    // The HTTP API creates keys within a limit, and the admin CLI without one.
    for (const owner of [disabled, removed]) {
      for (const maxActiveKeys of [10, undefined]) {
        const created = service.create(owner, { name: 'late', scopes: ['orders:read'], maxActiveKeys });
        await expect(created, `${owner.username}, limit ${maxActiveKeys}`).rejects.toBeInstanceOf(ApiKeyOwnerInactiveError);
      }
    }

    await repositories.accounts.enable(disabled.id);
    expect(await repositories.apiKeys.list(disabled.id)).toEqual([]);
    expect(await repositories.apiKeys.list(removed.id)).toEqual([]);
  });

  it('disabled accounts hidden, then enabled', async () => {
    const target = await account('lifecycle_hidden');
    await repositories.accounts.disable(target.id);

    expect(await repositories.accounts.findById(target.id)).toBeUndefined();
    expect((await repositories.accounts.findById(target.id, { includeDisabled: true }))?.disabledAt).toEqual(expect.any(Number));
    expect((await repositories.accounts.findByUsername('lifecycle_hidden'))?.disabledAt).toEqual(expect.any(Number));
    expect(await repositories.accounts.disable(target.id)).toEqual({ alreadyDisabled: true, revoked: { grants: 0, apiKeys: 0 } });

    expect(await repositories.accounts.enable(target.id)).toBe(true);
    expect(await repositories.accounts.enable(target.id)).toBe(false);
    expect((await repositories.accounts.findById(target.id))?.disabledAt).toBeNull();
  });

  it('unknown account returns undefined', async () => {
    const unknown = randomUUID();

    expect(await repositories.accounts.disable(unknown)).toBeUndefined();
    expect(await repositories.accounts.enable(unknown)).toBe(false);
    expect(await repositories.accounts.setRoles(unknown, [])).toBeUndefined();
    expect(await repositories.accounts.remove(unknown)).toBeUndefined();
  });

  it('only role removal revokes grants', async () => {
    const target = await account('lifecycle_roles');
    await signedInAccount(db, repositories, target.id);

    const granted = await repositories.accounts.setRoles(target.id, ['admin']);
    expect(granted).toEqual({ previous: [], revoked: { grants: 0, apiKeys: 0 } });
    expect(await payloadsOf(db, target.id)).toHaveLength(4);

    const withdrawn = await repositories.accounts.setRoles(target.id, []);
    expect(withdrawn).toEqual({ previous: ['admin'], revoked: { grants: 1, apiKeys: 0 } });
    expect(await payloadsOf(db, target.id)).toEqual([]);
    expect((await repositories.accounts.findById(target.id))?.roles).toEqual([]);
  });

  it('remove deletes grants and keys', async () => {
    const target = await account('lifecycle_removed');
    await signedInAccount(db, repositories, target.id);
    const active = await apiKey(target.id);
    const revoked = await apiKey(target.id);
    await repositories.apiKeys.revoke(revoked);

    expect(await repositories.accounts.remove(target.id)).toEqual({ grants: 1, apiKeys: 1 });

    expect(await repositories.accounts.findById(target.id, { includeDisabled: true })).toBeUndefined();
    expect(await payloadsOf(db, target.id)).toEqual([]);
    expect(await repositories.apiKeys.findById(active)).toBeUndefined();
    expect(await repositories.apiKeys.findById(revoked)).toBeUndefined();
    expect((await account('lifecycle_removed')).id).not.toBe(target.id);
  });
});
