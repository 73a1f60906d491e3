import type { JWK } from 'jose';
import { sql, type Kysely } from 'kysely';

import type { SecretBox } from '../core/secret-box.js';
import { epochSeconds, isPostgres } from './database.js';
import type { Database } from './schema.js';

export interface SigningKey {
  kid: string;
  alg: string;
  /** Private JWK, including `kid`, `alg` and `use`. */
  privateJwk: JWK;
  createdAt: number;
  retiredAt: number | null;
}

/**
 * Stores the authorization server's signing keys, sealed with the server secret.
 *
 * Once the server has started, exactly one key of each algorithm is active
 * (not retired). A retired key is still published until every token signed
 * with it has expired, so verifiers keep accepting those tokens.
 */
export class SigningKeyRepository {
  readonly #db: Kysely<Database>;
  readonly #box: SecretBox;

  constructor(db: Kysely<Database>, box: SecretBox) {
    this.#db = db;
    this.#box = box;
  }

  /**
   * Returns the keys to publish: the active keys first, then retired keys
   * whose retirement is less than `retentionSeconds` old, each group newest
   * first.
   */
  async listPublished(retentionSeconds: number): Promise<SigningKey[]> {
    const cutoff = epochSeconds() - retentionSeconds;
    const rows = await this.#db
      .selectFrom('signing_keys')
      .selectAll()
      .where((eb) => eb.or([eb('retired_at', 'is', null), eb('retired_at', '>', cutoff)]))
      .orderBy('created_at', 'desc')
      .orderBy('kid', 'desc')
      .execute();

    const keys = await Promise.all(
      rows.map(async (row) => ({
        kid: row.kid,
        alg: row.alg,
        privateJwk: JSON.parse(await this.#box.unseal(row.private_jwk)) as JWK,
        createdAt: row.created_at,
        retiredAt: row.retired_at,
      })),
    );

    return keys.sort((a, b) => Number(a.retiredAt !== null) - Number(b.retiredAt !== null));
  }

  /** Lists every stored key, newest first, without unsealing the private parts. */
  async listStates(): Promise<Array<Omit<SigningKey, 'privateJwk'>>> {
    const rows = await this.#db
      .selectFrom('signing_keys')
      .select(['kid', 'alg', 'created_at', 'retired_at'])
      .orderBy('created_at', 'desc')
      .orderBy('kid', 'desc')
      .execute();
    return rows.map((row) => ({ kid: row.kid, alg: row.alg, createdAt: row.created_at, retiredAt: row.retired_at }));
  }

  /** Returns the kid of every key and its state, cheaply, to detect a rotation by another process. */
  async fingerprint(): Promise<string> {
    const rows = await this.#db.selectFrom('signing_keys').select(['kid', 'retired_at']).orderBy('kid').execute();
    return rows.map((row) => `${row.kid}:${row.retired_at ?? ''}`).join(',');
  }

  /**
   * Unseals the newest stored key, if there is one. It throws UnsealError when
   * another server secret sealed the keys, so a caller can stop before it
   * seals or hashes anything with the wrong secret.
   */
  async checkServerSecret(): Promise<void> {
    const row = await this.#db
      .selectFrom('signing_keys')
      .select('private_jwk')
      .orderBy('created_at', 'desc')
      .orderBy('kid', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (row !== undefined) {
      await this.#box.unseal(row.private_jwk);
    }
  }

  /** Lists the algorithms that have an active key. */
  async listActiveAlgorithms(): Promise<string[]> {
    const rows = await this.#db.selectFrom('signing_keys').select('alg').distinct().where('retired_at', 'is', null).orderBy('alg').execute();
    return rows.map((row) => row.alg);
  }

  /**
   * Makes each of `privateJwks` the active key of its algorithm and retires
   * the key it replaces, in one transaction, so there is never a moment
   * without an active key and a failure stores none of them. Keys of other
   * algorithms stay active. At most one key per algorithm may be given.
   */
  async activate(...privateJwks: Array<JWK & { kid: string; alg: string }>): Promise<void> {
    const algorithms = privateJwks.map((jwk) => jwk.alg);
    if (algorithms.length === 0 || new Set(algorithms).size !== algorithms.length) {
      throw new TypeError(`activate takes one key per algorithm, got ${algorithms.length === 0 ? 'none' : algorithms.join(', ')}`);
    }

    const now = epochSeconds();
    const rows = await Promise.all(
      privateJwks.map(async (jwk) => ({
        kid: jwk.kid,
        alg: jwk.alg,
        private_jwk: await this.#box.seal(JSON.stringify(jwk)),
        created_at: now,
        retired_at: null,
      })),
    );

    await this.#db.transaction().execute(async (trx) => {
      // Under READ COMMITTED the update below would miss a key that a
      // concurrent activation inserts, and both keys would stay active. The
      // lock makes activations wait for each other while reads go on.
      // SQLite runs one write transaction at a time anyway.
      if (isPostgres(this.#db)) {
        await sql`lock table signing_keys in share row exclusive mode`.execute(trx);
      }
      await trx.updateTable('signing_keys').set({ retired_at: now }).where('retired_at', 'is', null).where('alg', 'in', algorithms).execute();
      await trx.insertInto('signing_keys').values(rows).execute();
    });
  }

  /** Deletes retired keys whose retirement is older than `retentionSeconds`; returns how many. */
  async deleteExpired(retentionSeconds: number): Promise<number> {
    const cutoff = epochSeconds() - retentionSeconds;
    const result = await this.#db
      .deleteFrom('signing_keys')
      .where('retired_at', 'is not', null)
      .where('retired_at', '<=', cutoff)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
