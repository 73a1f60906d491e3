import type { ExpressionBuilder, Kysely, Selectable, Transaction } from 'kysely';

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
  /** The OAuth client that received the key value, or null (see ApiKeyTable.client_id). */
  clientId: string | null;
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
    clientId: row.client_id ?? null,
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
    client_id: record.clientId,
  };
}

/** The outcome of a rotation; see ApiKeyRepository.rotate. */
export type RotationResult = 'rotated' | 'not_active' | 'over_limit';

/** The outcome of a creation within a limit; see ApiKeyRepository.createWithinLimit. */
export type CreationResult = 'created' | 'over_limit' | 'owner_inactive';

/** Raised inside a rotation's transaction to roll it back when the owner has too many active keys. */
class RotationOverLimit extends Error {}

/**
 * Writes the owner's account row, so that transactions that count and add
 * keys of one owner run one after another on SQLite and PostgreSQL alike,
 * and none of them can pass a count check on a stale count. Every such
 * transaction takes this lock before it writes any key row, so two of them
 * cannot wait on each other.
 *
 * Returns false, and locks nothing, when the account is disabled or
 * removed. Disabling writes the same row and revokes the account's keys in
 * one transaction. A key inserted after that, by a request that read the
 * account before it, would otherwise escape the revocation and work again
 * once the account is enabled.
 */
async function lockOwner(trx: Transaction<Database>, ownerId: string): Promise<boolean> {
  const locked = await trx
    .updateTable('accounts')
    .set((eb) => ({ id: eb.ref('id') }))
    .where('id', '=', ownerId)
    .where('disabled_at', 'is', null)
    .executeTakeFirst();
  return locked.numUpdatedRows > 0n;
}

/** Counts the keys of an owner that are neither revoked nor expired, including rotated keys in their grace period. */
async function countActive(trx: Transaction<Database>, ownerId: string): Promise<number> {
  const now = epochSeconds();
  const { count } = await trx
    .selectFrom('api_keys')
    .select((eb) => eb.fn.countAll<number | string | bigint>().as('count'))
    .where('owner_id', '=', ownerId)
    .where('revoked_at', 'is', null)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .executeTakeFirstOrThrow();
  return Number(count);
}

/**
 * How many ended keys (revoked or expired) of one owner stay listed. A user
 * who creates and revokes keys in a loop never reaches the limit of active
 * keys, so without this bound every turn of the loop would add a row for
 * good, and the owner's listing would grow without end. The audit trail
 * keeps the history of the keys deleted here.
 */
export const ENDED_KEYS_KEPT_PER_OWNER = 100;

/**
 * Deletes the ended keys of `ownerId` beyond the `keptCount` that ended last
 * (by revocation, or else by expiry), so that a new key never grows an owner's rows past the
 * active keys and `kept` ended ones.
 */
async function pruneEnded(trx: Transaction<Database>, ownerId: string, keptCount: number): Promise<void> {
  const now = epochSeconds();
  const ended = (eb: ExpressionBuilder<Database, 'api_keys'>) =>
    eb.or([eb('revoked_at', 'is not', null), eb.and([eb('expires_at', 'is not', null), eb('expires_at', '<=', now)])]);

  const newestEnded = trx
    .selectFrom('api_keys')
    .select('id')
    .where('owner_id', '=', ownerId)
    .where(ended)
    .orderBy((eb) => eb.fn.coalesce('revoked_at', 'expires_at'), 'desc')
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .limit(keptCount);
  await trx.deleteFrom('api_keys').where('owner_id', '=', ownerId).where(ended).where('id', 'not in', newestEnded).execute();
}

/** Stores API keys as keyed hashes; the keys themselves are never written. */
export class ApiKeyRepository {
  readonly #db: Kysely<Database>;
  readonly #endedKeysKept: number;

  constructor(db: Kysely<Database>, endedKeysKept = ENDED_KEYS_KEPT_PER_OWNER) {
    this.#db = db;
    this.#endedKeysKept = endedKeysKept;
  }

  async create(record: ApiKeyRecord): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      await trx.insertInto('api_keys').values(toRow(record)).execute();
      await pruneEnded(trx, record.ownerId, this.#endedKeysKept);
    });
  }

  /**
   * Stores `record` unless its owner would then hold more than `maxActive`
   * active keys: keys that are not revoked and not expired, which includes
   * a rotated key until its grace period ends. Returns 'over_limit' in that
   * case, and 'owner_inactive' when the owner's account is disabled or
   * removed, and stores nothing in either case. Without `maxActive`, only
   * the account is checked.
   */
  async createWithinLimit(record: ApiKeyRecord, maxActive?: number): Promise<CreationResult> {
    return this.#db.transaction().execute(async (trx) => {
      if (!(await lockOwner(trx, record.ownerId))) {
        return 'owner_inactive';
      }
      if (maxActive !== undefined && (await countActive(trx, record.ownerId)) >= maxActive) {
        return 'over_limit';
      }

      await trx.insertInto('api_keys').values(toRow(record)).execute();
      await pruneEnded(trx, record.ownerId, this.#endedKeysKept);
      return 'created';
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
   * if it already expires sooner), in one transaction. Returns 'not_active',
   * and stores nothing, when `id` is gone, revoked, expired or replaced by
   * then. Of two rotations of one key at once, or a rotation and a
   * revocation, only the first to change the row takes effect. The update
   * matches only an active key that is not replaced yet. PostgreSQL makes
   * the second writer wait for the first, then checks the row again.
   *
   * With `maxActive`, the owner may hold at most `maxActive + 1` active keys
   * afterwards, the old key in its grace period counted, and 'over_limit'
   * leaves everything as it was. A key at the limit can thus be rotated,
   * but rotations and creations during a grace period cannot add more.
   * With `maxActive`, the key of a disabled or removed owner is 'not_active' too.
   */
  async rotate(id: string, successor: ApiKeyRecord, oldKeyExpiresAt: number, maxActive?: number): Promise<RotationResult> {
    try {
      return await this.#db.transaction().execute(async (trx) => {
        // The transaction writes first: an SQLite transaction that read first
        // fails at once when another process writes before its own write.
        if (maxActive !== undefined && !(await lockOwner(trx, successor.ownerId))) {
          return 'not_active';
        }

        const now = epochSeconds();
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
          .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
          .executeTakeFirst();
        if (replaced.numUpdatedRows === 0n) {
          return 'not_active';
        }

        // The count includes the old key's new expiry, so a rotation without a
        // grace period stops counting the old key at once.
        if (maxActive !== undefined && (await countActive(trx, successor.ownerId)) > maxActive) {
          throw new RotationOverLimit();
        }

        await trx.insertInto('api_keys').values(toRow(successor)).execute();
        await pruneEnded(trx, successor.ownerId, this.#endedKeysKept);
        return 'rotated';
      });
    } catch (error) {
      // Throwing out of the transaction rolls back the update of the old key.
      if (error instanceof RotationOverLimit) {
        return 'over_limit';
      }
      throw error;
    }
  }

  async touch(id: string, at: number): Promise<void> {
    await this.#db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', id).execute();
  }
}
