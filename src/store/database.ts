import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresAdapter, PostgresDialect, SqliteDialect, sql } from 'kysely';

import { BackendUnavailableError, redactUrl } from '../backends/backend-error.js';
import { parseDatabaseUrl, type DatabaseLocation } from './database-url.js';
import { CodeMigrationProvider } from './migrations.js';
import type { Database } from './schema.js';
import { reusingStatements } from './sqlite-statements.js';

export { DATABASE_FILE } from './database-url.js';

/** How long an SQLite writer waits for another process's write lock, in milliseconds. */
const BUSY_TIMEOUT_MS = 5000;
/** How long a PostgreSQL query waits for a free or new connection before it fails, in milliseconds. */
const PG_CONNECT_TIMEOUT_MS = 3000;
/**
 * How long a PostgreSQL query may wait for its result, in milliseconds.
 * Without it, a query sent just before the network path to PostgreSQL
 * silently drops packets waits for TCP to give up, which takes minutes.
 */
const PG_QUERY_TIMEOUT_MS = 10_000;
/** Connections per instance in the PostgreSQL pool. */
const PG_POOL_SIZE = 10;

export interface OpenDatabaseOptions {
  /** Apply pending migrations before returning. Default true. */
  migrate?: boolean;
  /** Receives errors of PostgreSQL connections that drop; the pool replaces them. */
  onConnectionError?: (error: Error) => void;
}

/**
 * Opens the relational store named by the `database` setting and, unless
 * `migrate` is false, brings its schema up to date.
 *
 * Throws BackendUnavailableError when PostgreSQL cannot be reached.
 */
export async function openDatabase(databaseUrl: string, options: OpenDatabaseOptions = {}): Promise<Kysely<Database>> {
  const location = parseDatabaseUrl(databaseUrl);
  if (location.dialect === 'postgres') {
    // Migrations run on a pool without the query timeout, because rewriting
    // a large table may take longer than any request should wait.
    if (options.migrate ?? true) {
      const migrating = await openPostgres(location, options, undefined);
      try {
        await migrateToLatest(migrating);
      } finally {
        await migrating.destroy();
      }
    }
    return openPostgres(location, options, PG_QUERY_TIMEOUT_MS);
  }

  const db = openSqlite(location.path);

  if (options.migrate ?? true) {
    try {
      await migrateToLatest(db);
    } catch (error) {
      await db.destroy();
      throw error;
    }
  }
  return db;
}

/** Problems of an SQLite database file, by the SQLite error code that reports each one. */
const DATABASE_FILE_PROBLEMS: Readonly<Record<string, string>> = {
  SQLITE_NOTADB: 'is not an SQLite database',
  SQLITE_CORRUPT: 'is damaged (SQLite reports a malformed database image)',
  SQLITE_CANTOPEN: 'cannot be opened (it must be a file that this user may read and write)',
};

/** An SQLite database file that SQLite cannot read, such as a file of another format or a damaged one. */
export class DatabaseFileError extends Error {
  constructor(path: string, problem: string, cause: unknown) {
    super(
      `the database file ${path} ${problem}; restore it from a backup, ` +
        'move it away to start with an empty store, or check --data-dir and --database-url',
      { cause },
    );
    this.name = 'DatabaseFileError';
  }
}

/** Returns a DatabaseFileError for an SQLite error about the file at `path`, or the error itself. */
function databaseFileError(path: string, error: unknown): unknown {
  const problem = DATABASE_FILE_PROBLEMS[(error as { code?: string }).code ?? ''];
  return problem === undefined ? error : new DatabaseFileError(path, problem, error);
}

/**
 * Opens an SQLite file. WAL mode lets the admin CLI write while the server
 * reads and writes, and the busy timeout makes either side wait for the
 * other's short transactions instead of failing.
 */
function openSqlite(path: string): Kysely<Database> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });

  let sqlite: SQLite.Database;
  try {
    sqlite = new SQLite(path);
  } catch (error) {
    throw databaseFileError(path, error);
  }
  try {
    // SQLite reads the file's header and schema only on the first
    // statement, so a file of another format, or one whose schema it cannot
    // read, fails here rather than in the constructor.
    // NOTE: damage in other pages shows only in the statements that read them.
    sqlite.pragma('journal_mode = WAL');
  } catch (error) {
    sqlite.close();
    throw databaseFileError(path, error);
  }
  sqlite.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');

  return new Kysely<Database>({ dialect: new SqliteDialect({ database: reusingStatements(sqlite) }) });
}

/**
 * Returns node-postgres's type parsers with `bigint` (int8) read as a
 * number, as SQLite returns it. The store's `bigint` columns hold times in
 * seconds or milliseconds and counts, far below 2^53, where a number is
 * exact. node-postgres would otherwise return them as strings.
 */
function bigintAsNumber(types: typeof import('pg').types): typeof types.getTypeParser {
  const parseInteger = (value: string) => Number(value);
  return ((oid: number, format?: 'text' | 'binary') =>
    oid === types.builtins.INT8 && format !== 'binary' ? parseInteger : types.getTypeParser(oid, format)) as typeof types.getTypeParser;
}

/** The message of node-postgres (8.x) for a query that exceeded `query_timeout`. */
export const QUERY_TIMEOUT_MESSAGE = 'Query read timeout';

/**
 * Closes the connection of a query that timed out. node-postgres keeps
 * waiting for the late result on that connection, so every later query
 * that the pool sends over it would wait behind it and time out too.
 */
function closeOnQueryTimeout(client: import('pg').PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    const result = query(...args);
    if (result instanceof Promise) {
      result.catch((error: unknown) => {
        if (error instanceof Error && error.message === QUERY_TIMEOUT_MESSAGE) {
          (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
        }
      });
    }
    return result;
  };
}

/**
 * Opens a PostgreSQL connection pool and checks that the server responds.
 * With `queryTimeoutMs`, a query that gets no result in that time fails
 * and its connection is closed.
 */
async function openPostgres(
  location: Extract<DatabaseLocation, { dialect: 'postgres' }>,
  options: OpenDatabaseOptions,
  queryTimeoutMs: number | undefined,
): Promise<Kysely<Database>> {
  // Loaded only here, so SQLite deployments and admin commands do not load the driver.
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({
    connectionString: location.url,
    max: PG_POOL_SIZE,
    connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS,
    query_timeout: queryTimeoutMs,
    types: { getTypeParser: bigintAsNumber(pg.types) },
  });
  // node-postgres emits 'error' on a client whose connection drops, even
  // while Kysely has it checked out, and an 'error' event without a listener
  // would crash the process. The pool re-emits errors of idle clients, which
  // the client's own listener has reported already.
  pool.on('connect', (client) => {
    client.on('error', (error) => options.onConnectionError?.(error));
    if (queryTimeoutMs !== undefined) {
      closeOnQueryTimeout(client);
    }
  });
  pool.on('error', () => undefined);

  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  try {
    await sql`select 1`.execute(db);
  } catch (error) {
    await db.destroy();
    throw new BackendUnavailableError('PostgreSQL', redactUrl(location.url), error);
  }
  return db;
}

/**
 * Applies every pending migration. On PostgreSQL, Kysely's migrator takes a
 * session-level advisory lock (pg_advisory_lock) while it runs. Several
 * instances starting at once therefore apply each migration exactly once,
 * and the others wait and then find nothing to do.
 */
export async function migrateToLatest(db: Kysely<Database>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: new CodeMigrationProvider(), migrationTableSchema: await migrationSchema(db) });
  const { error, results } = await migrator.migrateToLatest();

  const failed = results?.find((result) => result.status === 'Error');
  if (error !== undefined || failed !== undefined) {
    const name = failed?.migrationName ?? 'unknown';
    throw new Error(`Database migration ${name} failed`, { cause: error });
  }

  return (results ?? []).map((result) => result.migrationName);
}

/** Advisory lock key of the first-start setup, so that it runs in one instance at a time. */
const SETUP_LOCK_KEY = 0x706f7274; // "port"

/**
 * Runs `action` while holding a PostgreSQL advisory lock on a connection of
 * its own, so that instances starting at once on an empty database create
 * one admin account and one signing key, not one each. The action's own
 * queries use the pool as usual. On SQLite, which one process serves, it
 * runs `action` directly.
 */
export async function withSetupLock<T>(db: Kysely<Database>, action: () => Promise<T>): Promise<T> {
  if (!isPostgres(db)) {
    return action();
  }

  return db.connection().execute(async (connection) => {
    // NOTE: the wait for the lock counts against the query timeout, so an
    // instance whose peer holds the lock for longer than that fails to start.
    await sql`select pg_advisory_lock(${SETUP_LOCK_KEY})`.execute(connection);
    try {
      return await action();
    } finally {
      await sql`select pg_advisory_unlock(${SETUP_LOCK_KEY})`.execute(connection);
    }
  });
}

/**
 * Returns the PostgreSQL schema that tables are created in (the first of the
 * search path), or undefined on SQLite. Kysely 0.28 looks for its migration
 * table in every schema unless given one, so a second application, or a
 * second Portcullis, in another schema of the same database would hide it.
 */
async function migrationSchema(db: Kysely<Database>): Promise<string | undefined> {
  if (!isPostgres(db)) {
    return undefined;
  }

  const { rows } = await sql<{ schema: string | null; searchPath: string }>`select current_schema() as schema, current_setting('search_path') as "searchPath"`.execute(db);
  const schema = rows[0]?.schema;
  if (schema == null) {
    throw new MissingSchemaError(rows[0]?.searchPath ?? '');
  }
  return schema;
}

/** A PostgreSQL database whose search path names no schema that exists, so Portcullis has nowhere to create its tables. */
export class MissingSchemaError extends Error {
  constructor(searchPath: string) {
    super(
      `PostgreSQL has no schema to create tables in: no schema of the search path (${searchPath}) exists. ` +
        'Create the schema (CREATE SCHEMA name) and grant the role CREATE on it, or name an existing one in the search_path option of the database URL',
    );
    this.name = 'MissingSchemaError';
  }
}

/** Tells whether `db` talks to PostgreSQL rather than SQLite. */
export function isPostgres(db: Kysely<Database>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/**
 * Tells whether a value can be stored in a text column of every supported
 * database. PostgreSQL rejects U+0000 in text, so a look-up key that
 * contains it matches no row, and callers return "not found" without
 * sending a query that would fail.
 */
export function isStorableText(value: string): boolean {
  return !value.includes('\u0000');
}

/** Replaces U+0000, which PostgreSQL cannot store in text, with U+FFFD, the Unicode replacement character. */
export function storableText(value: string): string {
  return value.replaceAll('\u0000', '\ufffd');
}

/** Current time in Unix epoch seconds, the unit of every time column. */
export function epochSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
