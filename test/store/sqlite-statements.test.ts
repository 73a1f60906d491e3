import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect, sql, type Generated } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { reusingStatements } from '../../src/store/sqlite-statements.js';

describe('reused SQLite statements', () => {
  let sqlite: SQLite.Database;

  beforeEach(() => {
    sqlite = new SQLite(':memory:');
    sqlite.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)');
    sqlite.exec("INSERT INTO items (name) VALUES ('a'), ('b'), ('c')");
  });

  afterEach(() => {
    if (sqlite.open) {
      sqlite.close();
    }
  });

  it('prepares each SQL text once', () => {
    const database = reusingStatements(sqlite);

    const first = database.prepare('SELECT name FROM items WHERE id = ?');
    const second = database.prepare('SELECT name FROM items WHERE id = ?');
    const other = database.prepare('SELECT id FROM items WHERE name = ?');

    expect(second).toBe(first);
    expect(other).not.toBe(first);
    expect(second.all([2])).toEqual([{ name: 'b' }]);
  });

  it('gives a busy statement a fresh twin', () => {
    const database = reusingStatements(sqlite);
    const text = 'SELECT name FROM items ORDER BY id';

    const iterating = database.prepare(text).iterate([]);
    expect(iterating.next().value).toEqual({ name: 'a' });
    const twin = database.prepare(text);

    expect(twin.all([])).toEqual([{ name: 'a' }, { name: 'b' }, { name: 'c' }]);
    expect([...iterating]).toEqual([{ name: 'b' }, { name: 'c' }]);
    expect(database.prepare(text)).not.toBe(twin);
  });

  it('evicts the least recently used statement', () => {
    const database = reusingStatements(sqlite, 2);

    const first = database.prepare('SELECT 1');
    const second = database.prepare('SELECT 2');
    database.prepare('SELECT 1');
    database.prepare('SELECT 3');

    expect(database.prepare('SELECT 1')).toBe(first);
    expect(database.prepare('SELECT 2')).not.toBe(second);
  });

  it('prepares long SQL each time', () => {
    const database = reusingStatements(sqlite);
    const rows = Array.from({ length: 200 }, () => '(?)').join(', ');
    const text = `INSERT INTO items (name) VALUES ${rows}`;
    const names = Array.from({ length: 200 }, (_unused, index) => `n${index}`);

    const first = database.prepare(text);
    first.run(names);

    expect(text.length).toBeGreaterThan(1000);
    expect(database.prepare(text)).not.toBe(first);
  });

  it('reads columns added after a statement was prepared', () => {
    const database = reusingStatements(sqlite);
    const text = 'SELECT * FROM items WHERE id = ?';
    expect(database.prepare(text).all([1])).toEqual([{ id: 1, name: 'a' }]);

    sqlite.exec("ALTER TABLE items ADD COLUMN colour TEXT NOT NULL DEFAULT 'red'");

    expect(database.prepare(text).all([1])).toEqual([{ id: 1, name: 'a', colour: 'red' }]);
  });

  it('runs Kysely queries and closes the database', async () => {
    const db = new Kysely<{ items: { id: Generated<number>; name: string } }>({ dialect: new SqliteDialect({ database: reusingStatements(sqlite) }) });

    for (const id of [1, 2, 3]) {
      const row = await db.selectFrom('items').select('name').where('id', '=', id).executeTakeFirst();
      expect(row?.name).toBe(['a', 'b', 'c'][id - 1]);
    }
    await db.insertInto('items').values({ name: 'd' }).execute();
    const { count } = (await sql<{ count: number }>`SELECT count(*) AS count FROM items`.execute(db)).rows[0]!;
    expect(count).toBe(4);

    await db.destroy();
    expect(sqlite.open).toBe(false);
  });
});
