import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load.js';
import { startPortcullis } from '../../src/server/portcullis.js';
import { runCli } from '../support/cli.js';
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
      expect(result.stderr).toContain('from a backup');
      expect(result.stderr).not.toContain('unexpected failure');
      expect(result.stderr).not.toContain(foreign);
      expect(result.stderr).not.toContain(original);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
