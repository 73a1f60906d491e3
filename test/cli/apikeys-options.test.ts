import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from '../support/cli.js';

// Each run is a new Node.js process compiling TypeScript, several seconds apiece on a busy machine.
const TIMEOUT = 120_000;

interface RotationOutput {
  graceSeconds: number;
}

describe('apikeys commands', () => {
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
      ['--scope', ['--scope', 'admin'], "scope not allowed: 'admin' (allowed for this owner: orders:read, orders:write)"],
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

  async function createKey(...args: string[]): Promise<string> {
    const created = await runCli(['apikeys', 'create', '--owner', 'key_owner', '--name', 'ci', '--scope', 'orders:read', '--json', ...args, '--data-dir', dataDir]);
    expect(created.code, created.stderr).toBe(0);
    return (JSON.parse(created.stdout) as { id: string }).id;
  }

  it('states a grace past the expiry', async () => {
    const expiring = await createKey('--expires-in', '1h');
    const text = await runCli(['apikeys', 'rotate', expiring, '--grace', '2h', '--data-dir', dataDir]);
    expect(text.code, text.stderr).toBe(0);
    const stated = /stops working in (\d+) seconds/.exec(text.stdout);
    expect(stated, text.stdout).not.toBeNull();
    expect(Number(stated?.[1])).toBeLessThanOrEqual(3600);
    expect(Number(stated?.[1])).toBeGreaterThan(3000);

    const lasting = await createKey();
    const json = await runCli(['apikeys', 'rotate', lasting, '--grace', '2h', '--json', '--data-dir', dataDir]);
    expect(json.code, json.stderr).toBe(0);
    expect((JSON.parse(json.stdout) as RotationOutput).graceSeconds).toBe(7200);

    const shortened = await createKey('--expires-in', '10m');
    const both = await runCli(['apikeys', 'rotate', shortened, '--grace', '1h', '--json', '--data-dir', dataDir]);
    expect(both.code, both.stderr).toBe(0);
    expect((JSON.parse(both.stdout) as RotationOutput).graceSeconds).toBeLessThanOrEqual(600);
  }, TIMEOUT);
});
