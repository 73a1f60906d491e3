import type { Insertable, Kysely } from 'kysely';
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';

import type { ClientRepository } from './client-repository.js';
import { epochSeconds, isStorableText } from './database.js';
import { replayedGrantError } from './replayed-grant.js';
import type { Database } from './schema.js';

type InsertableOidcPayload = Insertable<Database['oidc_payloads']>;

/**
 * Persists oidc-provider's models (grants, codes, refresh tokens, sessions,
 * interactions) in the `oidc_payloads` table, and serves clients from the
 * `clients` table so that clients added by the CLI take effect at once.
 */
export class OidcAdapter implements Adapter {
  readonly #db: Kysely<Database>;
  readonly #model: string;
  readonly #clients: ClientRepository;
  readonly #onGrantRevoked: (grantId: string) => void;

  /** `onGrantRevoked` learns of every grant this adapter deletes, so caches of active grants can drop it. */
  constructor(db: Kysely<Database>, model: string, clients: ClientRepository, onGrantRevoked: (grantId: string) => void = () => undefined) {
    this.#db = db;
    this.#model = model;
    this.#clients = clients;
    this.#onGrantRevoked = onGrantRevoked;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    if (this.#model === 'Client') {
      throw new Error('Clients are managed with the portcullis CLI, not through oidc-provider');
    }

    const row = {
      model: this.#model,
      id,
      payload: JSON.stringify(payload),
      grant_id: payload.grantId ?? null,
      uid: payload.uid ?? null,
      user_code: payload.userCode ?? null,
      expires_at: expiresIn ? epochSeconds() + expiresIn : null,
      consumed_at: null,
    };

    if (this.#model === 'ReplayDetection') {
      await this.#insertOnce(row);
      return;
    }

    await this.#db
      .insertInto('oidc_payloads')
      .values(row)
      .onConflict((conflict) =>
        conflict.columns(['model', 'id']).doUpdateSet({
          payload: row.payload,
          grant_id: row.grant_id,
          uid: row.uid,
          user_code: row.user_code,
          expires_at: row.expires_at,
        }),
      )
      .execute();
  }

  /**
   * Stores a client assertion's `jti` unless a live entry with the same id
   * exists. oidc-provider 9 calls find() and then saves, so two requests
   * racing with one assertion could both pass its check. The conditional
   * insert lets exactly one of them store the entry, and the other fails
   * client authentication. An expired entry is replaced.
   *
   * NOTE: oidc-provider also stores DPoP proof ids in this model. DPoP is
   * off, and if it is turned on, a replayed proof is still rejected but
   * with `invalid_client` in place of `invalid_dpop_proof`.
   */
  async #insertOnce(row: InsertableOidcPayload): Promise<void> {
    const result = await this.#db
      .insertInto('oidc_payloads')
      .values(row)
      .onConflict((conflict) =>
        conflict
          .columns(['model', 'id'])
          .doUpdateSet({ payload: row.payload, expires_at: row.expires_at, consumed_at: null })
          .where('oidc_payloads.expires_at', '<=', epochSeconds()),
      )
      .executeTakeFirst();

    if (result.numInsertedOrUpdatedRows === 0n) {
      throw new errors.InvalidClientAuth('the client assertion was used before, so sign a new one with a fresh jti');
    }
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    if (this.#model === 'Client') {
      return (await this.#clients.find(id)) as AdapterPayload | undefined;
    }

    return this.#findBy('id', id);
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.#findBy('uid', uid);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.#findBy('user_code', userCode);
  }

  /**
   * Marks a code or refresh token as used, atomically.
   *
   * oidc-provider checks `consumed` and then calls this method, so two
   * requests racing with the same code could both pass its check. The
   * conditional update lets exactly one of them win; the loser is treated as
   * a replay, which revokes the whole grant (RFC 6749 section 4.1.2, RFC 9700
   * section 4.14.2).
   */
  async consume(id: string): Promise<void> {
    const now = epochSeconds();
    const result = await this.#db
      .updateTable('oidc_payloads')
      .set({ consumed_at: now })
      .where('model', '=', this.#model)
      .where('id', '=', id)
      .where('consumed_at', 'is', null)
      .executeTakeFirst();

    if (result.numUpdatedRows > 0n) {
      return;
    }

    const row = await this.#db
      .selectFrom('oidc_payloads')
      .select('grant_id')
      .where('model', '=', this.#model)
      .where('id', '=', id)
      .executeTakeFirst();

    if (row?.grant_id != null) {
      await revokeGrant(this.#db, row.grant_id);
      this.#onGrantRevoked(row.grant_id);
      throw replayedGrantError(row.grant_id);
    }

    throw replayedGrantError();
  }

  async destroy(id: string): Promise<void> {
    await this.#db.deleteFrom('oidc_payloads').where('model', '=', this.#model).where('id', '=', id).execute();
    if (this.#model === 'Grant') {
      this.#onGrantRevoked(id);
    }
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await this.#db
      .deleteFrom('oidc_payloads')
      .where('model', '=', this.#model)
      .where('grant_id', '=', grantId)
      .execute();
  }

  async #findBy(column: 'id' | 'uid' | 'user_code', value: string): Promise<AdapterPayload | undefined> {
    // Codes, tokens and client ids come straight from requests.
    if (!isStorableText(value)) {
      return undefined;
    }

    const row = await this.#db
      .selectFrom('oidc_payloads')
      .select(['payload', 'expires_at', 'consumed_at'])
      .where('model', '=', this.#model)
      .where(column, '=', value)
      .executeTakeFirst();

    if (row === undefined || (row.expires_at !== null && row.expires_at <= epochSeconds())) {
      return undefined;
    }

    const payload = JSON.parse(row.payload) as AdapterPayload;
    if (row.consumed_at !== null) {
      payload.consumed = row.consumed_at;
    }

    return payload;
  }
}

/** Deletes a grant and everything issued under it. */
export async function revokeGrant(db: Kysely<Database>, grantId: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom('oidc_payloads').where('grant_id', '=', grantId).execute();
    await trx.deleteFrom('oidc_payloads').where('model', '=', 'Grant').where('id', '=', grantId).execute();
  });
}
