import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ApiKeyService } from '../../src/api-keys/api-key-service.js';
import { KeyedHash } from '../../src/core/keyed-hash.js';
import type { Account } from '../../src/store/account-repository.js';
import { openDatabase } from '../../src/store/database.js';
import { createRepositories } from '../../src/store/repositories.js';
import type { Database } from '../../src/store/schema.js';
import { createSqliteFile, type TestDatabase } from '../support/databases.js';

describe('API key allowed ranges', () => {
  let database: TestDatabase;
  let db: Kysely<Database>;
  let keys: ApiKeyService;
  let owner: Account;

  beforeAll(async () => {
    database = await createSqliteFile();
    db = await openDatabase(database.url);
    const repositories = createRepositories(db, randomBytes(32));
    keys = new ApiKeyService(repositories.apiKeys, repositories.accounts, new KeyedHash(randomBytes(32)), () => undefined);
    owner = await repositories.accounts.create({ username: 'range_owner', email: 'range_owner@example.com', passwordHash: 'unused', roles: [] });
  });

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  it.each([
    ['an IPv4 range', '203.0.113.0/24'],
    ['an IPv4-mapped IPv6 range', '::ffff:203.0.113.0/120'],
  ])('admits callers in %s', async (_label, cidr) => {
    const { value } = await keys.create(owner, { name: 'ranged', scopes: ['orders:read'], allowedCidrs: [cidr] });

    expect((await keys.verify(value, '203.0.113.9')).outcome).toBe('valid');
    expect((await keys.verify(value, '::ffff:203.0.113.9')).outcome).toBe('valid');
    expect((await keys.verify(value, '203.0.114.9')).outcome).toBe('address_not_allowed');
    expect((await keys.verify(value, '::ffff:203.0.114.9')).outcome).toBe('address_not_allowed');
    expect((await keys.verify(value, '2001:db8::1')).outcome).toBe('address_not_allowed');
  });

  it('admits no caller address in legacy notation', async () => {
    const { value } = await keys.create(owner, { name: 'loopback', scopes: ['orders:read'], allowedCidrs: ['127.0.0.0/8', 'fe80::/10'] });

    expect((await keys.verify(value, '127.0.0.1')).outcome).toBe('valid');
    expect((await keys.verify(value, 'fe80::1%eth0')).outcome).toBe('valid');
    for (const address of ['127.1', '0x7f.0.0.1', '0177.0.0.1', '2130706433', '::ffff:0177.0.0.1']) {
      expect((await keys.verify(value, address)).outcome, address).toBe('address_not_allowed');
    }
  });

  it('reads forwarded addresses with a port or brackets', async () => {
    const { value } = await keys.create(owner, { name: 'forwarded', scopes: ['orders:read'], allowedCidrs: ['203.0.113.0/24', '2001:db8::/32'] });

    for (const address of ['203.0.113.9:5678', '[2001:db8::1]', '[2001:db8::1]:443']) {
      expect((await keys.verify(value, address)).outcome, address).toBe('valid');
    }
    for (const address of ['203.0.114.9:5678', '[2001:db9::1]:443', '0177.0.0.1:80', '[fe80::1%eth0]:443']) {
      expect((await keys.verify(value, address)).outcome, address).toBe('address_not_allowed');
    }
  });

  it('rejects ranges in legacy notation', async () => {
    for (const cidr of ['127.1/32', '0x7f.0.0.0/8', '017.0.0.0/8', '2130706433/32']) {
      const created = keys.create(owner, { name: 'legacy', scopes: ['orders:read'], allowedCidrs: [cidr] });
      await expect(created, cidr).rejects.toThrow(`'${cidr}' is not in standard notation`);
    }
  });

  it('stores a mapped range once with its IPv4 twin', async () => {
    const { summary } = await keys.create(owner, {
      name: 'twins',
      scopes: ['orders:read'],
      allowedCidrs: ['203.0.113.0/24', '::ffff:203.0.113.0/120', '::ffff:198.51.100.0/120', '198.51.100.0/24'],
    });

    expect(summary.allowedCidrs).toEqual(['203.0.113.0/24', '::ffff:198.51.100.0/120']);
  });

  it('keeps a mapped prefix shorter than 96 as IPv6', async () => {
    const { value } = await keys.create(owner, { name: 'wide', scopes: ['orders:read'], allowedCidrs: ['::/64'] });

    expect((await keys.verify(value, '::5')).outcome).toBe('valid');
    expect((await keys.verify(value, '203.0.113.9')).outcome).toBe('address_not_allowed');
  });
});
