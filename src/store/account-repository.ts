import { randomUUID } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';

import { identifierKey } from '../core/registration-rules.js';
import { epochSeconds } from './database.js';
import { DuplicateError, uniqueViolationColumn } from './errors.js';
import type { AccountTable, Database } from './schema.js';

export interface Account {
  id: string;
  username: string;
  email: string;
  passwordHash: string;
  roles: string[];
  createdAt: number;
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
  };
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

  async findById(id: string): Promise<Account | undefined> {
    const row = await this.#db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : toAccount(row);
  }

  async findByUsername(username: string): Promise<Account | undefined> {
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

  async count(): Promise<number> {
    const { total } = await this.#db
      .selectFrom('accounts')
      .select((eb) => eb.fn.countAll<number>().as('total'))
      .executeTakeFirstOrThrow();
    return Number(total);
  }
}
