import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from '../support/cli.js';
import { createPostgresSchema, type TestDatabase } from '../support/databases.js';
import { freePort } from '../support/server.js';

describe('portcullis migrate', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createPostgresSchema();
  });

  afterAll(async () => {
    await database?.drop();
  });

  it('applies migrations once on PostgreSQL', async () => {
    const first = await runCli(['migrate', '--json', '--database-url', database.url]);
    expect(first.code, first.stderr).toBe(0);
    expect((JSON.parse(first.stdout) as { applied: string[] }).applied).toEqual(['0001_initial', '0002_api_keys', '0003_audit_events', '0004_wide_times', '0005_account_status', '0006_api_key_clients']);

    const second = await runCli(['migrate'], '', { PORTCULLIS_DATABASE_URL: database.url });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('is up to date');
  });

  it('names an unreachable database without its password', async () => {
    const port = await freePort();
    const result = await runCli(['migrate', '--database-url', `postgres://admin:pa55word@127.0.0.1:${port}/portcullis`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`error: PostgreSQL at postgres://admin:***@127.0.0.1:${port}/portcullis is unreachable: `);
    expect(result.stderr).not.toContain('pa55word');
  });

  it('masks a password in the database URL query', async () => {
    const port = await freePort();
    const result = await runCli(['migrate', '--database-url', `postgresql://127.0.0.1:${port}/test?password=QuerySecret`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`error: PostgreSQL at postgresql://127.0.0.1:${port}/test?password=*** is unreachable: `);
    expect(result.stderr).not.toContain('QuerySecret');
  });

  it('rejects an unknown database scheme', async () => {
    const result = await runCli(['migrate', '--database-url', 'mysql://127.0.0.1/portcullis']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--database-url: must be sqlite:<file> or a postgres:// or postgresql:// URL');
  });

  it('refuses to start when Redis is unreachable', async () => {
    const port = await freePort();
    const result = await runCli(['start', '--port', String(await freePort()), '--database-url', database.url, '--redis-url', `redis://127.0.0.1:${port}`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`error: Redis at redis://127.0.0.1:${port} is unreachable: `);
  });

  it('masks a password in the Redis URL query', async () => {
    const port = await freePort();
    const result = await runCli(['start', '--port', String(await freePort()), '--database-url', database.url], '', {
      PORTCULLIS_REDIS_URL: `redis://127.0.0.1:${port}/0?password=RedisQuery`,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`error: Redis at redis://127.0.0.1:${port}/0?password=*** is unreachable: `);
    expect(result.stderr).not.toContain('RedisQuery');
    expect(result.stdout).not.toContain('RedisQuery');
  });
});
