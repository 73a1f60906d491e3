import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load.js';
import { startPortcullis } from '../../src/server/portcullis.js';
import { listUsersAfterDamage, replaceWithDirectory, runCli } from '../support/cli.js';
import { freePort } from '../support/server.js';

/** Starts and stops a server once in `dataDir`, which seals a signing key with its server secret. */
async function initializeDataDir(dataDir: string): Promise<void> {
  const config = loadConfig({ port: await freePort(), dataDir }, {});
  const running = await startPortcullis(config, { logDestination: { write: () => undefined } });
  await running.close();
}

describe('start with another server secret', () => {
  it('names the secret file and the database', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'portcullis-secret-'));
    try {
      await initializeDataDir(dataDir);
      const secretFile = join(dataDir, 'server-secret');
      const original = (await readFile(secretFile, 'utf8')).trim();
      const foreign = randomBytes(32).toString('base64url');
      await writeFile(secretFile, foreign);

      const result = await runCli(['start', '--port', String(await freePort()), '--data-dir', dataDir]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`error: the server secret in ${secretFile} does not match the database sqlite:${join(dataDir, 'portcullis.sqlite')}`);
      expect(result.stderr).toContain('Copy the server-secret file of an instance that uses this database');
      expect(result.stderr).toContain('from a backup');
      expect(result.stderr).not.toContain('unexpected failure');
      expect(result.stderr).not.toContain(foreign);
      expect(result.stderr).not.toContain(original);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('admin command with another server secret', () => {
  it('stops before writing with it', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'portcullis-secret-'));
    const otherDir = await mkdtemp(join(tmpdir(), 'portcullis-secret-other-'));
    try {
      await initializeDataDir(dataDir);
      // The other directory holds only a secret of its own, as a default
      // ./data does when the database URL points at a shared database.
      const database = ['--data-dir', otherDir];
      const env = { PORTCULLIS_DATABASE_URL: `sqlite:${join(dataDir, 'portcullis.sqlite')}` };
      const before = await runCli(['keys', 'list', '--data-dir', dataDir, '--json']);
      expect(before.code).toBe(0);

      const commands = [
        ['keys', 'rotate'],
        ['clients', 'add', '--name', 'billing', '--confidential', '--grant', 'client_credentials', '--scope', 'orders:read'],
        ['apikeys', 'create', '--owner', 'admin', '--name', 'job', '--scope', 'orders:read'],
      ];
      for (const command of commands) {
        const result = await runCli([...command, ...database], '', env);
        expect(result.code, command.join(' ')).toBe(1);
        expect(result.stderr, command.join(' ')).toContain(`error: the server secret in ${join(otherDir, 'server-secret')} does not match the database`);
        expect(result.stdout, command.join(' ')).toBe('');
      }

      const after = await runCli(['keys', 'list', '--data-dir', dataDir, '--json']);
      expect(after.stdout).toBe(before.stdout);
      const clients = await runCli(['clients', 'list', '--data-dir', dataDir, '--json']);
      expect(clients.stdout).not.toContain('billing');
      const apiKeys = await runCli(['apikeys', 'list', '--data-dir', dataDir, '--json']);
      expect(JSON.parse(apiKeys.stdout)).toEqual([]);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
      await rm(otherDir, { recursive: true, force: true });
    }
    // Seven CLI processes, each compiling the sources through tsx.
  }, 120_000);
});

describe('damaged server secret', () => {
  it.each([
    ['too short', (secretFile: string) => writeFile(secretFile, 'c2hvcnQ'), 'is not 32 bytes of base64url; restore it from a backup'],
    ['a directory', replaceWithDirectory, 'cannot be read (EISDIR); it must be a file that this user may read'],
  ])('names a secret that is %s', async (_case, damage, problem) => {
    const { path, result } = await listUsersAfterDamage('server-secret', damage);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('error: the server secret');
    expect(result.stderr).toContain(path);
    expect(result.stderr).toContain(problem);
    expect(result.stderr).not.toContain('unexpected failure');
  });
});
