import { randomUUID } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';

import { identifierKey } from '../core/registration-rules.js';
import { epochSeconds, isStorableText } from './database.js';
import { DuplicateError, uniqueViolationColumn } from './errors.js';
import { revokeAccountGrants } from './grant-queries.js';
import type { AccountTable, Database } from './schema.js';

export interface Account {
  id: string;
  username: string;
  email: string;
  passwordHash: string;
  roles: string[];
  createdAt: number;
  /** When the account was disabled, in epoch seconds; null while it may sign in. */
  disabledAt: number | null;
  /**
   * When the account's sign-in sessions were last revoked, in epoch seconds,
   * or null. A session that started at or before it no longer signs the
   * account in, wherever the session is stored (SQL or Redis).
   */
  sessionsRevokedAt: number | null;
}

export interface NewAccount {
  username: string;
  email: string;
  passwordHash: string;
  roles: string[];
}

function toAccount(row: Selectable<AccountTable>): Account {
  return {
    id: row.id,
    username: row.username,
    email: row.email,
    passwordHash: row.password_hash,
    roles: JSON.parse(row.roles) as string[],
    createdAt: row.created_at,
    disabledAt: row.disabled_at ?? null,
    sessionsRevokedAt: row.sessions_revoked_at ?? null,
  };
}

/** Counts of what an account change revoked: grants (with their tokens and sessions) and API keys. */
export interface Revoked {
  grants: number;
  apiKeys: number;
}

/** Stores end-user accounts. Usernames are unique case-insensitively. */
export class AccountRepository {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** Inserts an account; throws DuplicateError naming `username` or `email` when one is taken. */
  async create(input: NewAccount): Promise<Account> {
    const now = epochSeconds();
    const row = {
      id: randomUUID(),
      username: input.username,
      username_key: identifierKey(input.username),
      email: identifierKey(input.email),
      password_hash: input.passwordHash,
      roles: JSON.stringify(input.roles),
      created_at: now,
      updated_at: now,
      disabled_at: null,
      sessions_revoked_at: null,
    };

    try {
      await this.#db.insertInto('accounts').values(row).execute();
    } catch (error) {
      const column = uniqueViolationColumn(error);
      if (column !== undefined) {
        throw new DuplicateError(column === 'email' ? 'email' : 'username');
      }
      throw error;
    }

    return toAccount(row);
  }

  /**
   * Finds an account that may act: a disabled one is not found unless
   * `includeDisabled` is set, so every sign-in, token and API key check that
   * goes through here fails closed for it.
   */
  async findById(id: string, options: { includeDisabled?: boolean } = {}): Promise<Account | undefined> {
    if (!isStorableText(id)) {
      return undefined;
    }

    let query = this.#db.selectFrom('accounts').selectAll().where('id', '=', id);
    if (options.includeDisabled !== true) {
      query = query.where('disabled_at', 'is', null);
    }

    const row = await query.executeTakeFirst();
    return row === undefined ? undefined : toAccount(row);
  }

  /** Finds an account by username, disabled or not: callers check `disabledAt`. */
  async findByUsername(username: string): Promise<Account | undefined> {
    // The username comes straight from the sign-in form.
    if (!isStorableText(username)) {
      return undefined;
    }

    const row = await this.#db
      .selectFrom('accounts')
      .selectAll()
      .where('username_key', '=', identifierKey(username))
      .executeTakeFirst();
    return row === undefined ? undefined : toAccount(row);
  }

  async list(): Promise<Account[]> {
    const rows = await this.#db.selectFrom('accounts').selectAll().orderBy('created_at').orderBy('username_key').execute();
    return rows.map(toAccount);
  }

  /**
   * Disables an account and, in the same transaction, revokes its grants,
   * tokens and sessions and its active API keys. Sessions kept in Redis are
   * out of this transaction's reach, so `sessionsRevokedAt` voids them, also
   * after a later `enable`. Returns undefined when no
   * account has this id, and `alreadyDisabled` when it was disabled before,
   * in which case nothing changes.
   */
  async disable(id: string): Promise<{ alreadyDisabled: boolean; revoked: Revoked } | undefined> {
    return this.#db.transaction().execute(async (trx) => {
      // The first statement writes. An SQLite transaction that reads first
      // fails with SQLITE_BUSY, without waiting, when another process (the
      // running server) writes before the transaction's first write.
      const now = epochSeconds();
      const updated = await trx
        .updateTable('accounts')
        .set({ disabled_at: now, sessions_revoked_at: now, updated_at: now })
        .where('id', '=', id)
        .where('disabled_at', 'is', null)
        .executeTakeFirst();
      if (updated.numUpdatedRows === 0n) {
        const exists = await trx.selectFrom('accounts').select('id').where('id', '=', id).executeTakeFirst();
        return exists === undefined ? undefined : { alreadyDisabled: true, revoked: { grants: 0, apiKeys: 0 } };
      }

      const grants = await revokeAccountGrants(trx, id);
      const keys = await trx.updateTable('api_keys').set({ revoked_at: now }).where('owner_id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
      return { alreadyDisabled: false, revoked: { grants, apiKeys: Number(keys.numUpdatedRows) } };
    });
  }

  /**
   * Ends an account's sessions and revokes its grants with their tokens, in
   * one transaction, and leaves the account and its API keys as they are:
   * the response to a stolen session or token, or a lost device. Returns
   * undefined when no account has this id.
   */
  async signOut(id: string): Promise<{ grants: number } | undefined> {
    return this.#db.transaction().execute(async (trx) => {
      // The first statement writes, for the reason given in disable.
      const now = epochSeconds();
      const updated = await trx.updateTable('accounts').set({ sessions_revoked_at: now, updated_at: now }).where('id', '=', id).executeTakeFirst();
      if (updated.numUpdatedRows === 0n) {
        return undefined;
      }

      return { grants: await revokeAccountGrants(trx, id) };
    });
  }

  /** Lets a disabled account sign in again; returns false when no disabled account has this id. */
  async enable(id: string): Promise<boolean> {
    const result = await this.#db
      .updateTable('accounts')
      .set({ disabled_at: null, updated_at: epochSeconds() })
      .where('id', '=', id)
      .where('disabled_at', 'is not', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /**
   * Replaces an account's roles. Access tokens carry the roles they were
   * issued with, so when a role is taken away the account's grants, tokens
   * and sessions (through `sessionsRevokedAt` too) are revoked in the same
   * transaction, and the next sign-in
   * issues tokens with the new roles. Returns undefined when no account has
   * this id.
   */
  async setRoles(id: string, roles: readonly string[]): Promise<{ previous: string[]; revoked: Revoked } | undefined> {
    return this.#db.transaction().execute(async (trx) => {
      // Writing first takes SQLite's write lock and PostgreSQL's row lock, so
      // no other change comes between the read of the old roles and the
      // write of the new ones. An SQLite transaction that reads first fails
      // with SQLITE_BUSY when the running server writes before it.
      const now = epochSeconds();
      const touched = await trx.updateTable('accounts').set({ updated_at: now }).where('id', '=', id).executeTakeFirst();
      if (touched.numUpdatedRows === 0n) {
        return undefined;
      }

      const row = await trx.selectFrom('accounts').select('roles').where('id', '=', id).executeTakeFirstOrThrow();
      const previous = JSON.parse(row.roles) as string[];
      await trx.updateTable('accounts').set({ roles: JSON.stringify(roles) }).where('id', '=', id).execute();

      const lost = previous.some((role) => !roles.includes(role));
      if (!lost) {
        return { previous, revoked: { grants: 0, apiKeys: 0 } };
      }

      await trx.updateTable('accounts').set({ sessions_revoked_at: now }).where('id', '=', id).execute();
      const grants = await revokeAccountGrants(trx, id);
      return { previous, revoked: { grants, apiKeys: 0 } };
    });
  }

  /**
   * Deletes an account with its grants, tokens, sessions and API keys, in
   * one transaction. Audit events keep its id. Returns undefined when no
   * account has this id.
   */
  async remove(id: string): Promise<Revoked | undefined> {
    return this.#db.transaction().execute(async (trx) => {
      const deleted = await trx.deleteFrom('accounts').where('id', '=', id).executeTakeFirst();
      if (deleted.numDeletedRows === 0n) {
        return undefined;
      }

      const grants = await revokeAccountGrants(trx, id);
      const keys = await trx.deleteFrom('api_keys').where('owner_id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
      await trx.deleteFrom('api_keys').where('owner_id', '=', id).execute();
      return { grants, apiKeys: Number(keys.numDeletedRows) };
    });
  }

  async count(): Promise<number> {
    const { total } = await this.#db
      .selectFrom('accounts')
      .select((eb) => eb.fn.countAll<number>().as('total'))
      .executeTakeFirstOrThrow();
    return Number(total);
  }
}
