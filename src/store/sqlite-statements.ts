import type { Database as BetterSqliteDatabase, Statement } from 'better-sqlite3';
import type { SqliteDatabase } from 'kysely';

/** Maximum number of prepared statements kept per database. */
const MAX_STATEMENTS = 256;

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
  const statements = new Map<string, Statement>();

  return {
    close() {
      statements.clear();
      database.close();
    },
    prepare(sql) {
      const cached = statements.get(sql);
      if (cached !== undefined && !cached.busy) {
        return cached;
      }

      const statement = database.prepare(sql);
      if (cached === undefined) {
        // Evicts the oldest statement. Its query is prepared again on its next run.
        if (statements.size >= maxStatements) {
          statements.delete(statements.keys().next().value as string);
        }
        statements.set(sql, statement);
      }
      return statement;
    },
  };
}
