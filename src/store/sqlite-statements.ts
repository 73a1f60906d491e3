import type { Database as BetterSqliteDatabase, Statement } from 'better-sqlite3';
import type { SqliteDatabase } from 'kysely';

/** Maximum number of prepared statements kept per database. */
const MAX_STATEMENTS = 128;

/**
 * Longest SQL text whose statement is kept, in characters. Multi-row
 * inserts, such as the audit trail's batches, have a text for each row
 * count and a large statement each, and run too rarely to gain from reuse.
 */
const MAX_KEPT_SQL_LENGTH = 1000;

/**
 * Wraps an SQLite database so that Kysely reuses one prepared statement
 * per SQL text. Kysely's SQLite driver prepares every query again, and
 * each preparation makes SQLite parse the SQL and plan the query.
 *
 * Kysely runs one query at a time on the connection. A statement that is
 * still being iterated is busy, though, so a query with the same SQL then
 * gets a fresh statement of its own.
 */
export function reusingStatements(database: BetterSqliteDatabase, maxStatements = MAX_STATEMENTS): SqliteDatabase {
  // Kept in order of last use, the least recently used first.
  const statements = new Map<string, Statement>();

  return {
    close() {
      statements.clear();
      database.close();
    },
    prepare(sql) {
      const cached = statements.get(sql);
      if (cached !== undefined && !cached.busy) {
        statements.delete(sql);
        statements.set(sql, cached);
        return cached;
      }

      const statement = database.prepare(sql);
      if (cached === undefined && sql.length <= MAX_KEPT_SQL_LENGTH) {
        if (statements.size >= maxStatements) {
          statements.delete(statements.keys().next().value as string);
        }
        statements.set(sql, statement);
      }
      return statement;
    },
  };
}
