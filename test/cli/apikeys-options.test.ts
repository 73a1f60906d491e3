import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from '../support/cli.js';

// Each run is a new Node.js process compiling TypeScript, several seconds apiece on a busy machine.
const TIMEOUT = 120_000;

describe('apikeys create option errors', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'portcullis-apikey-options-'));
    const added = await runCli(['users', 'add', 'key_owner', '--email', 'key_owner@example.com', '--data-dir', dataDir], 'Owner-Passw0rd-42\n');
    expect(added.code, added.stderr).toBe(0);
  }, TIMEOUT);

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('names the rejected option', async () => {
    const cases: Array<[string, string[], string]> = [
      ['--name', ['--name', ' '], 'name must be 1 to 100 characters'],
      ['--scope', ['--scope', 'admin'], 'scope not allowed for this owner: admin'],
      ['--cidr', ['--cidr', 'junk'], "'junk' is not a CIDR range"],
      ['--expires-in', ['--expires-in', '0'], 'expiry must be a positive whole number of seconds'],
      ['--expires-in', ['--expires-in', '99999d'], 'expiry must be at most 3650 days'],
    ];
    for (const [option, args, problem] of cases) {
      const result = await runCli(['apikeys', 'create', '--owner', 'key_owner', '--name', 'ci', '--scope', 'orders:read', ...args, '--data-dir', dataDir]);
      expect(result.code, args.join(' ')).toBe(1);
      expect(result.stderr, args.join(' ')).toContain(`error: ${option}: ${problem}`);
    }
  }, TIMEOUT);
});
