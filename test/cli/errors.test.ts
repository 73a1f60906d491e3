import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import { listUsersAfterDamage, replaceWithDirectory, runCli } from '../support/cli.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

// Each run is a new Node.js process compiling TypeScript, several seconds apiece on a busy machine.
const TIMEOUT = 60_000;

describe('CLI input errors', () => {
  it('rejects an empty data directory', async () => {
    for (const [args, env, name] of [
      [['users', 'list', '--data-dir', ''], {}, '--data-dir'],
      [['users', 'list'], { PORTCULLIS_DATA_DIR: '' }, 'PORTCULLIS_DATA_DIR'],
    ] as const) {
      const result = await runCli([...args], '', env);
      expect(result.code, name).toBe(1);
      expect(result.stderr, name).toContain(`${name}: must not be empty`);
      expect(result.stderr, name).not.toContain('unexpected failure');
    }
    expect(existsSync(join(ROOT, 'server-secret'))).toBe(false);
    expect(existsSync(join(ROOT, 'portcullis.sqlite'))).toBe(false);
  }, TIMEOUT);

  it('rejects --port 0 before creating anything', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'portcullis-port-'));
    try {
      const result = await runCli(['start', '--port', '0', '--data-dir', dataDir]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain("--port: must be a whole number from 1 to 65535, got '0'");
      expect(await readdir(dataDir)).toEqual([]);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, TIMEOUT);

  it('creates no store for a rejected account', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'portcullis-users-'));
    const dataDir = join(parent, 'data');
    try {
      const result = await runCli(['users', 'add', 'bob', '--email', 'not-an-email', '--data-dir', dataDir], 'weak\n');
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('password: Password must be at least 12 characters.');
      expect(result.stderr).toContain('email:');
      expect(existsSync(dataDir)).toBe(false);
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  }, TIMEOUT);

  it.each([
    ['damaged', (database: string) => truncate(database, 50_000), 'is damaged (SQLite reports a malformed database image)'],
    ['a directory', replaceWithDirectory, 'cannot be opened (it must be a file that this user may read and write)'],
  ])('names a database file that is %s', async (_case, damage, problem) => {
    const { path, result } = await listUsersAfterDamage('portcullis.sqlite', damage);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`error: the database file ${path} ${problem}; restore it from a backup`);
    expect(result.stderr).not.toContain('unexpected failure');
  }, TIMEOUT);

  it('rejects read commands on a missing data directory', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'portcullis-missing-'));
    const missing = join(parent, 'dat');
    try {
      for (const command of [['users', 'list'], ['keys', 'list'], ['clients', 'list'], ['apikeys', 'list'], ['audit']]) {
        const result = await runCli([...command, '--data-dir', missing]);
        expect(result.code, command.join(' ')).toBe(1);
        expect(result.stderr, command.join(' ')).toContain(`data directory ${missing} does not exist; check --data-dir`);
      }
      expect(await readdir(parent)).toEqual([]);
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
    // Five CLI processes in a row.
  }, 5 * TIMEOUT);

  it('rejects read commands on a directory without a store', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'portcullis-no-store-'));
    try {
      for (const command of [['users', 'list'], ['apikeys', 'list']]) {
        const result = await runCli([...command, '--data-dir', directory]);
        expect(result.code, command.join(' ')).toBe(1);
        expect(result.stderr, command.join(' ')).toContain(`data directory ${directory} contains no Portcullis store`);
        expect(result.stderr, command.join(' ')).toContain('check --data-dir');
      }
      expect(await readdir(directory)).toEqual([]);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
    // Two CLI processes in a row.
  }, 2 * TIMEOUT);

  it('names the config key of a missing data directory', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'portcullis-missing-'));
    const missing = join(parent, 'dat');
    const config = join(parent, 'portcullis.yaml');
    try {
      await writeFile(config, `dataDir: ${missing}\n`);

      const result = await runCli(['users', 'list'], '', { PORTCULLIS_CONFIG: config });

      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`data directory ${missing} does not exist; check the dataDir config key`);
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  }, TIMEOUT);

  it('creates the store on keys rotate', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'portcullis-new-'));
    try {
      const result = await runCli(['keys', 'rotate', '--data-dir', join(parent, 'data')]);
      expect(result.code).toBe(0);
      expect(existsSync(join(parent, 'data', 'server-secret'))).toBe(true);
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  }, TIMEOUT);
});
