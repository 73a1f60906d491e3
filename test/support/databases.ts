import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** The shared PostgreSQL server of the test machine; each test run works in a schema of its own. */
export const POSTGRES_URL = process.env['PORTCULLIS_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A database made for one test run, and how to remove it. */
export interface TestDatabase {
  dialect: 'sqlite' | 'postgres';
  /** The `database` setting that points at it. */
  url: string;
  drop(): Promise<void>;
}

/** Builds a PostgreSQL URL whose connections use `schema` as their search path. */
export function postgresUrlForSchema(schema: string, base = POSTGRES_URL): string {
  const url = new URL(base);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.href;
}

/**
 * Creates a fresh schema on the shared PostgreSQL server. Only this schema is
 * dropped afterwards, so runs of other engineers are left alone.
 */
export async function createPostgresSchema(): Promise<TestDatabase> {
  const schema = `portcullis_test_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    await client.query(`create schema ${schema}`);
  } finally {
    await client.end();
  }

  return {
    dialect: 'postgres',
    url: postgresUrlForSchema(schema),
    async drop() {
      const dropper = new pg.Client({ connectionString: POSTGRES_URL });
      await dropper.connect();
      try {
        await dropper.query(`drop schema if exists ${schema} cascade`);
      } finally {
        await dropper.end();
      }
    },
  };
}

/** Creates an SQLite file in a temporary directory. */
export async function createSqliteFile(): Promise<TestDatabase> {
  const directory = await mkdtemp(join(tmpdir(), 'portcullis-db-'));
  return {
    dialect: 'sqlite',
    url: `sqlite:${join(directory, 'portcullis.sqlite')}`,
    drop: () => rm(directory, { recursive: true, force: true }),
  };
}

/** The dialects every store test runs against. */
export const DIALECTS = [
  { name: 'SQLite', create: createSqliteFile },
  { name: 'PostgreSQL', create: createPostgresSchema },
] as const;
