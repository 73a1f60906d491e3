import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { ensureSigningKeys, generateSigningKey, rotateSigningKeys } from '../../src/keys/signing-keys.js';
import { isPostgres, openDatabase } from '../../src/store/database.js';
import type { Database } from '../../src/store/schema.js';
import { createRepositories } from '../../src/store/repositories.js';
import type { SigningKeyRepository } from '../../src/store/signing-key-repository.js';
import { DIALECTS, type TestDatabase } from '../support/databases.js';

/** Makes the database abort every insert of an RS256 key, as a failing write would. */
async function rejectRsaInserts(db: Kysely<Database>): Promise<void> {
  if (isPostgres(db)) {
    await sql`create function reject_rsa_key() returns trigger language plpgsql as $$ begin raise exception 'RS256 insert rejected'; end $$`.execute(db);
    await sql`create trigger reject_rsa_key before insert on signing_keys for each row when (new.alg = 'RS256') execute function reject_rsa_key()`.execute(db);
  } else {
    await sql`create trigger reject_rsa_key before insert on signing_keys when new.alg = 'RS256' begin select raise(abort, 'RS256 insert rejected'); end`.execute(db);
  }
}

async function acceptRsaInserts(db: Kysely<Database>): Promise<void> {
  await sql`drop trigger reject_rsa_key${isPostgres(db) ? sql` on signing_keys` : sql``}`.execute(db);
  if (isPostgres(db)) {
    await sql`drop function reject_rsa_key()`.execute(db);
  }
}

async function activeKids(keys: SigningKeyRepository): Promise<Record<string, string[]>> {
  const active: Record<string, string[]> = {};
  for (const key of await keys.listStates()) {
    if (key.retiredAt === null) {
      (active[key.alg] ??= []).push(key.kid);
    }
  }
  return active;
}

describe.each(DIALECTS)('signing keys on $name', ({ create }) => {
  let database: TestDatabase;
  let db: Kysely<Database>;
  let keys: SigningKeyRepository;

  beforeAll(async () => {
    database = await create();
    db = await openDatabase(database.url);
    keys = createRepositories(db, randomBytes(32)).signingKeys;
  });

  beforeEach(async () => {
    await db.deleteFrom('signing_keys').execute();
  });

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  it('creates one key per algorithm', async () => {
    expect(await ensureSigningKeys(keys)).toEqual(['ES256', 'RS256']);
    expect(await ensureSigningKeys(keys)).toEqual([]);

    expect(await keys.listActiveAlgorithms()).toEqual(['ES256', 'RS256']);
    const published = await keys.listPublished(3600);
    expect(published.map((key) => key.alg).sort()).toEqual(['ES256', 'RS256']);
    expect(published.find((key) => key.alg === 'RS256')?.privateJwk.kty).toBe('RSA');
  });

  it('adds RS256 to an ES256-only store', async () => {
    const existing = await generateSigningKey('ES256');
    await keys.activate(existing);

    expect(await ensureSigningKeys(keys)).toEqual(['RS256']);

    const active = await activeKids(keys);
    expect(active['ES256']).toEqual([existing.kid]);
    expect(active['RS256']).toHaveLength(1);
    expect(await keys.listStates()).toHaveLength(2);
  });

  it('rotates every algorithm at once', async () => {
    await ensureSigningKeys(keys);
    const before = await activeKids(keys);

    const rotated = await rotateSigningKeys(keys);

    expect(rotated.map((key) => key.alg)).toEqual(['ES256', 'RS256']);
    const after = await activeKids(keys);
    expect(after['ES256']).toEqual([rotated[0]?.kid]);
    expect(after['RS256']).toEqual([rotated[1]?.kid]);
    const retired = (await keys.listStates()).filter((key) => key.retiredAt !== null).map((key) => key.kid);
    expect(retired.sort()).toEqual([...(before['ES256'] ?? []), ...(before['RS256'] ?? [])].sort());

    // Active keys come first, and both retired keys stay published.
    const published = await keys.listPublished(3600);
    expect(published.slice(0, 2).every((key) => key.retiredAt === null)).toBe(true);
    expect(published).toHaveLength(4);
  });

  it('retires only keys of the same algorithm', async () => {
    await ensureSigningKeys(keys);
    const before = await activeKids(keys);

    const replacement = await generateSigningKey('RS256');
    await keys.activate(replacement);

    const after = await activeKids(keys);
    expect(after['ES256']).toEqual(before['ES256']);
    expect(after['RS256']).toEqual([replacement.kid]);
  });

  it('deletes expired keys of both algorithms', async () => {
    await ensureSigningKeys(keys);
    await rotateSigningKeys(keys);

    expect(await keys.deleteExpired(-1)).toBe(2);
    expect((await keys.listStates()).every((key) => key.retiredAt === null)).toBe(true);
  });

  it('stores no key when one insert fails', async () => {
    await rejectRsaInserts(db);
    try {
      await expect(ensureSigningKeys(keys)).rejects.toThrow();
      expect(await keys.listStates()).toEqual([]);

      const existing = await generateSigningKey('ES256');
      await keys.activate(existing);
      await expect(rotateSigningKeys(keys)).rejects.toThrow();
      expect(await activeKids(keys)).toEqual({ ES256: [existing.kid] });
    } finally {
      await acceptRsaInserts(db);
    }
  });

  it('keeps one active key under concurrent rotations', async () => {
    await ensureSigningKeys(keys);
    // Keys are made first, so the transactions themselves overlap.
    const batches = await Promise.all(Array.from({ length: 6 }, async () => [await generateSigningKey('ES256'), await generateSigningKey('RS256')]));

    await Promise.all(batches.map((batch) => keys.activate(...batch)));

    const active = await activeKids(keys);
    expect(active['ES256']).toHaveLength(1);
    expect(active['RS256']).toHaveLength(1);
  });

  it('rejects two keys of one algorithm', async () => {
    const [first, second] = [await generateSigningKey('ES256'), await generateSigningKey('ES256')];

    await expect(keys.activate(first, second)).rejects.toThrow('activate takes one key per algorithm, got ES256, ES256');
    expect(await keys.listStates()).toEqual([]);
  });
});
