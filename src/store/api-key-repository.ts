import type { Kysely, Selectable } from 'kysely';

import { epochSeconds } from './database.js';
import type { ApiKeyTable, Database } from './schema.js';

/** An API key as stored: everything but the key itself. */
export interface ApiKeyRecord {
  id: string;
  hash: string;
  environment: string;
  ownerId: string;
  name: string;
  scopes: string[];
  allowedCidrs: string[];
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
  replacedBy: string | null;
}

function toRecord(row: Selectable<ApiKeyTable>): ApiKeyRecord {
  return {
    id: row.id,
    hash: row.hash,
    environment: row.environment,
    ownerId: row.owner_id,
    name: row.name,
    scopes: JSON.parse(row.scopes) as string[],
    allowedCidrs: JSON.parse(row.allowed_cidrs) as string[],
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
    replacedBy: row.replaced_by,
  };
}

function toRow(record: ApiKeyRecord): Selectable<ApiKeyTable> {
  return {
    id: record.id,
    hash: record.hash,
    environment: record.environment,
    owner_id: record.ownerId,
    name: record.name,
    scopes: JSON.stringify(record.scopes),
    allowed_cidrs: JSON.stringify(record.allowedCidrs),
    created_at: record.createdAt,
    expires_at: record.expiresAt,
    last_used_at: record.lastUsedAt,
    revoked_at: record.revokedAt,
    replaced_by: record.replacedBy,
  };
}

/** Stores API keys as keyed hashes; the keys themselves are never written. */
export class ApiKeyRepository {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async create(record: ApiKeyRecord): Promise<void> {
    await this.#db.insertInto('api_keys').values(toRow(record)).execute();
  }

  /**
   * Stores `record` unless its owner would then hold more than `maxActive`
   * active keys: keys that are not revoked and not expired, which includes
   * a rotated key until its grace period ends. Returns false, and stores
   * nothing, in that case. The transaction first writes the owner's account
   * row, so concurrent creations for one owner run one after another on
   * SQLite and PostgreSQL alike, and none of them can pass the count check
   * on a stale count.
   */
  async createWithinLimit(record: ApiKeyRecord, maxActive: number): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      await trx
        .updateTable('accounts')
        .set((eb) => ({ id: eb.ref('id') }))
        .where('id', '=', record.ownerId)
        .execute();

      const now = epochSeconds();
      const { count } = await trx
        .selectFrom('api_keys')
        .select((eb) => eb.fn.countAll<number | string | bigint>().as('count'))
        .where('owner_id', '=', record.ownerId)
        .where('revoked_at', 'is', null)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
        .executeTakeFirstOrThrow();
      if (Number(count) >= maxActive) {
        return false;
      }

      await trx.insertInto('api_keys').values(toRow(record)).execute();
      return true;
    });
  }

  async findById(id: string): Promise<ApiKeyRecord | undefined> {
    const row = await this.#db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : toRecord(row);
  }

  /** Lists keys, newest first, of one owner or of everyone. */
  async list(ownerId?: string): Promise<ApiKeyRecord[]> {
    let query = this.#db.selectFrom('api_keys').selectAll().orderBy('created_at', 'desc').orderBy('id');
    if (ownerId !== undefined) {
      query = query.where('owner_id', '=', ownerId);
    }
    return (await query.execute()).map(toRecord);
  }

  /** Revokes a key that is not revoked yet; returns false when there is none (of that owner). */
  async revoke(id: string, ownerId?: string): Promise<boolean> {
    let query = this.#db.updateTable('api_keys').set({ revoked_at: epochSeconds() }).where('id', '=', id).where('revoked_at', 'is', null);
    if (ownerId !== undefined) {
      query = query.where('owner_id', '=', ownerId);
    }
    const result = await query.executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /**
   * Stores `successor` and lets `id` expire at `oldKeyExpiresAt` (or earlier,
   * if it already expires sooner), in one transaction. Returns false, and
   * stores nothing, when `id` is gone, revoked or replaced by then. Of two
   * rotations of one key at once, or a rotation and a revocation, only the
   * first to change the row takes effect. The update matches only a key
   * that is neither revoked nor replaced. PostgreSQL makes the second
   * writer wait for the first, then checks the row again.
   */
  async rotate(id: string, successor: ApiKeyRecord, oldKeyExpiresAt: number): Promise<boolean> {
    // The transaction writes first: an SQLite transaction that read first
    // fails at once when another process writes before its own write.
    return this.#db.transaction().execute(async (trx) => {
      const replaced = await trx
        .updateTable('api_keys')
        .set((eb) => ({
          expires_at: eb
            .case()
            .when(eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', oldKeyExpiresAt)]))
            .then(oldKeyExpiresAt)
            .else(eb.ref('expires_at'))
            .end(),
          replaced_by: successor.id,
        }))
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .where('replaced_by', 'is', null)
        .executeTakeFirst();
      if (replaced.numUpdatedRows === 0n) {
        return false;
      }

      await trx.insertInto('api_keys').values(toRow(successor)).execute();
      return true;
    });
  }

  async touch(id: string, at: number): Promise<void> {
    await this.#db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', id).execute();
  }
}
