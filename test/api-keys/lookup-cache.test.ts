import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

import { ApiKeyService } from '../../src/api-keys/api-key-service.js';
import type { ApiKeyLookupCacheOptions } from '../../src/api-keys/lookup-cache.js';
import { assembleApiKey } from '../../src/core/api-keys/format.js';
import { KeyedHash } from '../../src/core/keyed-hash.js';
import { DEFAULT_REVOCATION_CHECK_TTL_MS } from '../../src/config/load.js';
import type { Account } from '../../src/store/account-repository.js';
import { openDatabase } from '../../src/store/database.js';
import { createRepositories, type Repositories } from '../../src/store/repositories.js';
import type { Database } from '../../src/store/schema.js';
import { createSqliteFile, type TestDatabase } from '../support/databases.js';

/** The lookup cache as the gateway configures it by default. */
const GATEWAY_CACHE: ApiKeyLookupCacheOptions = { ttlMs: DEFAULT_REVOCATION_CHECK_TTL_MS, maxEntries: 100 };

const INSIDE = '10.1.2.3';
const OUTSIDE = '192.0.2.7';

/**
 * Starts `action` while reads of key records are held back. `recordRead`
 * settles once a record has been read, and the read returns it to its caller
 * only after `release`.
 */
function holdReads<T>(repositories: Repositories, action: () => T): { result: T; recordRead: Promise<void>; release: () => void } {
  const read = repositories.apiKeys.findById.bind(repositories.apiKeys);
  let release = (): void => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let signalRead = (): void => undefined;
  const recordRead = new Promise<void>((resolve) => {
    signalRead = resolve;
  });
  vi.spyOn(repositories.apiKeys, 'findById').mockImplementation(async (id) => {
    const record = await read(id);
    signalRead();
    await gate;
    return record;
  });
  return { result: action(), recordRead, release };
}

function flushDeferredWrites(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe('API key lookup cache', () => {
  let database: TestDatabase;
  let db: Kysely<Database>;
  let repositories: Repositories;
  let hasher: KeyedHash;
  let owner: Account;

  beforeAll(async () => {
    database = await createSqliteFile();
    db = await openDatabase(database.url);
    const secret = randomBytes(32);
    repositories = createRepositories(db, secret);
    hasher = new KeyedHash(randomBytes(32));
    owner = await repositories.accounts.create({ username: 'cache_owner', email: 'cache_owner@example.com', passwordHash: 'unused', roles: [] });
  });

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  beforeEach(() => {
    // Only the clock is fake: the store and the deferred last-used write need real timers.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-06-01T12:00:00.000Z'));
  });

  afterEach(async () => {
    // better-sqlite3 queries resolve without a macrotask turn, so last-used writes deferred with setImmediate run only here.
    await flushDeferredWrites();
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  /** Creates the service with a lookup cache, or without one when `cache` is 'off'. */
  function service(cache: ApiKeyLookupCacheOptions | 'off' = GATEWAY_CACHE): ApiKeyService {
    return new ApiKeyService(repositories.apiKeys, repositories.accounts, hasher, () => undefined, cache === 'off' ? undefined : cache);
  }

  function countReads(): { reads: () => number } {
    const spy = vi.spyOn(repositories.apiKeys, 'findById');
    return { reads: () => spy.mock.calls.length };
  }

  function advance(milliseconds: number): void {
    vi.setSystemTime(Date.now() + milliseconds);
  }

  it('reuses a lookup within the TTL', async () => {
    const keys = service();
    const { value } = await keys.create(owner, { name: 'busy', scopes: ['orders:read'] });
    const store = countReads();

    for (let request = 0; request < 3; request += 1) {
      const result = await keys.verify(value, INSIDE);
      expect(result.outcome).toBe('valid');
      advance(300);
    }

    expect(store.reads()).toBe(1);
  });

  it('reads the store again once the TTL passes', async () => {
    const keys = service();
    const { value } = await keys.create(owner, { name: 'periodic', scopes: ['orders:read'] });
    const store = countReads();

    expect((await keys.verify(value, INSIDE)).outcome).toBe('valid');
    advance(DEFAULT_REVOCATION_CHECK_TTL_MS);
    expect((await keys.verify(value, INSIDE)).outcome).toBe('valid');

    expect(store.reads()).toBe(2);
  });

  it('rejects a key revoked here at once', async () => {
    const keys = service();
    const { value, summary } = await keys.create(owner, { name: 'revoked here', scopes: ['orders:read'] });
    expect((await keys.verify(value, INSIDE)).outcome).toBe('valid');

    expect(await keys.revoke(summary.id, owner.id)).toBe(true);

    expect((await keys.verify(value, INSIDE)).outcome).toBe('invalid');
  });

  it('rejects a key rotated here at once', async () => {
    const keys = service();
    const { value, summary } = await keys.create(owner, { name: 'rotated here', scopes: ['orders:read'] });
    expect((await keys.verify(value, INSIDE)).outcome).toBe('valid');

    const successor = await keys.rotate(summary.id, 0, { owner });

    expect(successor).toBeDefined();
    expect((await keys.verify(value, INSIDE)).outcome).toBe('invalid');
    expect((await keys.verify(successor?.value as string, INSIDE)).outcome).toBe('valid');
  });

  it('rejects a key revoked elsewhere within the TTL', async () => {
    const keys = service();
    const { value, summary } = await keys.create(owner, { name: 'revoked elsewhere', scopes: ['orders:read'] });
    expect((await keys.verify(value, INSIDE)).outcome).toBe('valid');

    // The admin CLI revokes through its own process, which this cache does not hear from.
    expect(await repositories.apiKeys.revoke(summary.id)).toBe(true);

    advance(DEFAULT_REVOCATION_CHECK_TTL_MS - 1);
    expect((await keys.verify(value, INSIDE)).outcome).toBe('valid');
    advance(1);
    expect((await keys.verify(value, INSIDE)).outcome).toBe('invalid');
  });

  it('keeps no lookup that a revocation overtook', async () => {
    const keys = service();
    const { value, summary } = await keys.create(owner, { name: 'overtaken', scopes: ['orders:read'] });

    const pending = holdReads(repositories, () => keys.verify(value, INSIDE));
    await pending.recordRead;
    expect(await keys.revoke(summary.id, owner.id)).toBe(true);
    pending.release();

    // The request that was already running when the key was revoked may pass, as it would without the cache.
    expect((await pending.result).outcome).toBe('valid');
    expect((await keys.verify(value, INSIDE)).outcome).toBe('invalid');
  });

  it('honours expiry of a cached key', async () => {
    const keys = service({ ttlMs: 60_000, maxEntries: 100 });
    const { value } = await keys.create(owner, { name: 'short-lived', scopes: ['orders:read'], expiresInSeconds: 5 });
    const store = countReads();
    expect((await keys.verify(value, INSIDE)).outcome).toBe('valid');

    advance(4_999);
    expect((await keys.verify(value, INSIDE)).outcome).toBe('valid');
    expect(store.reads()).toBe(1);

    advance(1);
    expect((await keys.verify(value, INSIDE)).outcome).toBe('invalid');
  });

  // Each case starts the second-long period 1 ms before a whole second.
  it.each([
    ['lifetime', async (keys: ApiKeyService) => (await keys.create(owner, { name: 'one second', scopes: ['orders:read'], expiresInSeconds: 1 })).value],
    [
      'rotation grace',
      async (keys: ApiKeyService) => {
        const { value, summary } = await keys.create(owner, { name: 'rotated late in a second', scopes: ['orders:read'] });
        expect(await keys.rotate(summary.id, 1, { owner })).toBeDefined();
        return value;
      },
    ],
  ])('keeps a key for its whole %s', async (_case, begin) => {
    const keys = service('off');
    advance(999);
    const value = await begin(keys);

    advance(999);
    expect((await keys.verify(value, INSIDE)).outcome).toBe('valid');
    advance(2);
    expect((await keys.verify(value, INSIDE)).outcome).toBe('invalid');
  });

  it('ends a zero grace at once', async () => {
    const keys = service('off');
    const { value, summary } = await keys.create(owner, { name: 'rotated mid-second', scopes: ['orders:read'] });
    advance(500);
    expect(await keys.rotate(summary.id, 0, { owner })).toBeDefined();

    expect((await keys.verify(value, INSIDE)).outcome).toBe('invalid');
  });

  it('ends a cached key with its rotation grace', async () => {
    const keys = service({ ttlMs: 60_000, maxEntries: 100 });
    const { value, summary } = await keys.create(owner, { name: 'graceful', scopes: ['orders:read'] });
    expect(await keys.rotate(summary.id, 3, { owner })).toBeDefined();
    expect((await keys.verify(value, INSIDE)).outcome).toBe('valid');

    advance(2_999);
    expect((await keys.verify(value, INSIDE)).outcome).toBe('valid');
    advance(1);
    expect((await keys.verify(value, INSIDE)).outcome).toBe('invalid');
  });

  it('checks allowed CIDRs on every cached use', async () => {
    const keys = service();
    const { value, summary } = await keys.create(owner, { name: 'ranged', scopes: ['orders:read'], allowedCidrs: ['10.0.0.0/8'] });
    const store = countReads();

    expect((await keys.verify(value, INSIDE)).outcome).toBe('valid');
    const outside = await keys.verify(value, OUTSIDE);
    expect(outside.outcome).toBe('address_not_allowed');
    expect((outside as { record: { id: string } }).record.id).toBe(summary.id);
    expect((await keys.verify(value, `::ffff:${INSIDE}`)).outcome).toBe('valid');
    expect((await keys.verify(value, OUTSIDE)).outcome).toBe('address_not_allowed');

    expect(store.reads()).toBe(1);
  });

  it('shares one read between concurrent requests', async () => {
    const keys = service();
    const { value } = await keys.create(owner, { name: 'concurrent', scopes: ['orders:read'] });
    const store = countReads();

    const results = await Promise.all([keys.verify(value, INSIDE), keys.verify(value, INSIDE), keys.verify(value, OUTSIDE), keys.verify(value, INSIDE)]);

    expect(results.map((result) => result.outcome)).toEqual(['valid', 'valid', 'valid', 'valid']);
    expect(store.reads()).toBe(1);
  });

  it('reads the store on every request when off', async () => {
    const keys = service('off');
    const { value } = await keys.create(owner, { name: 'uncached', scopes: ['orders:read'] });
    const store = countReads();

    await Promise.all([keys.verify(value, INSIDE), keys.verify(value, INSIDE)]);
    expect((await keys.verify(value, INSIDE)).outcome).toBe('valid');

    expect(store.reads()).toBe(3);
  });

  it('keeps no failed or invalid lookup', async () => {
    const keys = service();
    const { value, summary } = await keys.create(owner, { name: 'flaky', scopes: ['orders:read'] });
    const wrongSecret = assembleApiKey('live', summary.id, 'x'.repeat(43));
    const spy = vi.spyOn(repositories.apiKeys, 'findById').mockRejectedValueOnce(new Error('database is locked'));

    await expect(keys.verify(value, INSIDE)).rejects.toThrow('database is locked');
    expect((await keys.verify(value, INSIDE)).outcome).toBe('valid');
    expect((await keys.verify(wrongSecret, INSIDE)).outcome).toBe('invalid');
    expect((await keys.verify(wrongSecret, INSIDE)).outcome).toBe('invalid');

    expect(spy.mock.calls.length).toBe(4);
  });

  it('keeps at most maxEntries keys', async () => {
    const keys = service({ ttlMs: DEFAULT_REVOCATION_CHECK_TTL_MS, maxEntries: 1 });
    const first = await keys.create(owner, { name: 'first of two', scopes: ['orders:read'] });
    const second = await keys.create(owner, { name: 'second of two', scopes: ['orders:read'] });
    const store = countReads();

    for (const value of [first.value, second.value, first.value, first.value]) {
      expect((await keys.verify(value, INSIDE)).outcome).toBe('valid');
    }

    expect(store.reads()).toBe(3);
  });

  it('records the last use of cached keys', async () => {
    const keys = service({ ttlMs: 120_000, maxEntries: 100 });
    const { value, summary } = await keys.create(owner, { name: 'touched', scopes: ['orders:read'] });
    const store = countReads();
    const touch = vi.spyOn(repositories.apiKeys, 'touch');

    expect((await keys.verify(value, INSIDE)).outcome).toBe('valid');
    await flushDeferredWrites();
    advance(30_000);
    expect((await keys.verify(value, INSIDE)).outcome).toBe('valid');
    await flushDeferredWrites();
    expect(touch.mock.calls.length).toBe(1);

    advance(31_000);
    expect((await keys.verify(value, INSIDE)).outcome).toBe('valid');
    await flushDeferredWrites();

    expect(store.reads()).toBe(1);
    expect(touch.mock.calls.length).toBe(2);
    const stored = await repositories.apiKeys.findById(summary.id);
    expect(stored?.lastUsedAt).toBe(Math.floor(Date.now() / 1000));
  });
});
