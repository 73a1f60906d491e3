import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from '../support/cli.js';

// Each run is a new Node.js process compiling TypeScript, several seconds apiece on a busy machine.
const TIMEOUT = 120_000;

const PASSWORD = 'Owner-Passw0rd-42';
const CLIENT_SECRET = randomBytes(32).toString('base64url');
const ACCESS_TOKEN = `eyJhbGciOiJFZERTQSJ9.${randomBytes(24).toString('base64url')}.${randomBytes(64).toString('base64url')}`;

describe('CLI secrets in arguments', () => {
  let dataDir: string;
  let apiKey: string;
  let keyId: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'portcullis-secret-args-'));
    const added = await runCli(['users', 'add', 'key_owner', '--email', 'key_owner@example.com', '--data-dir', dataDir], `${PASSWORD}\n`);
    expect(added.code, added.stderr).toBe(0);
    const created = await runCli(['apikeys', 'create', '--owner', 'key_owner', '--name', 'ci', '--scope', 'orders:read', '--json', '--data-dir', dataDir]);
    expect(created.code, created.stderr).toBe(0);
    ({ key: apiKey, id: keyId } = JSON.parse(created.stdout) as { key: string; id: string });
  }, TIMEOUT);

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('names the id of a pasted key', async () => {
    for (const command of ['revoke', 'rotate']) {
      const result = await runCli(['apikeys', command, apiKey, '--data-dir', dataDir]);
      expect(result.code, command).toBe(1);
      expect(result.stderr, command).not.toContain(apiKey);
      expect(result.stderr, command).toContain(`pass the key id ${keyId} instead`);
    }

    const listed = await runCli(['apikeys', 'list', '--json', '--data-dir', dataDir]);
    expect(JSON.parse(listed.stdout)).toMatchObject([{ id: keyId, state: 'active' }]);
  }, TIMEOUT);

  it('never repeats secret-shaped arguments', async () => {
    const truncatedKey = apiKey.slice(0, -3);
    const cases: Array<[string, string[]]> = [
      [truncatedKey, ['apikeys', 'revoke', truncatedKey]],
      [ACCESS_TOKEN, ['apikeys', 'rotate', ACCESS_TOKEN]],
      [CLIENT_SECRET, ['clients', 'remove', CLIENT_SECRET]],
      [PASSWORD, ['users', 'disable', PASSWORD]],
      [PASSWORD, ['users', 'remove', PASSWORD]],
      [PASSWORD, ['apikeys', 'list', '--owner', PASSWORD]],
      [CLIENT_SECRET, ['apikeys', 'create', '--owner', CLIENT_SECRET, '--name', 'x', '--scope', 'orders:read']],
      [CLIENT_SECRET, ['apikeys', 'rotate', keyId, '--grace', CLIENT_SECRET]],
      [ACCESS_TOKEN, ['audit', '--since', ACCESS_TOKEN]],
      [apiKey, ['audit', '--type', apiKey]],
    ];
    for (const [secret, args] of cases) {
      const result = await runCli([...args, '--data-dir', dataDir]);
      const name = args.slice(0, 2).join(' ');
      expect(result.code, name).toBe(1);
      expect(result.stderr, name).toMatch(/^error: /m);
      expect(result.stderr, name).not.toContain(secret);
      expect(result.stdout, name).not.toContain(secret);
    }
  }, TIMEOUT);

  it('redacts secrets in parser errors', async () => {
    const cases: Array<[string, string[]]> = [
      [apiKey, ['apikeys', 'revoke', keyId, `--${apiKey}`]],
      [CLIENT_SECRET, [CLIENT_SECRET]],
      [ACCESS_TOKEN, ['users', 'list', `--token=${ACCESS_TOKEN}`]],
    ];
    for (const [secret, args] of cases) {
      const result = await runCli([...args, '--data-dir', dataDir]);
      expect(result.code, args[0]).toBe(1);
      expect(result.stderr, args[0]).toContain('[redacted]');
      expect(result.stderr, args[0]).not.toContain(secret);
    }
  }, TIMEOUT);

  it('still quotes ordinary unknown values', async () => {
    const unknownUser = await runCli(['users', 'disable', 'nobody_here', '--data-dir', dataDir]);
    expect(unknownUser.code).toBe(1);
    expect(unknownUser.stderr).toContain("no account with username 'nobody_here'");

    const unknownKey = await runCli(['apikeys', 'revoke', 'AAAAAAAAAAAA', '--data-dir', dataDir]);
    expect(unknownKey.code).toBe(1);
    expect(unknownKey.stderr).toContain("no active API key with id 'AAAAAAAAAAAA'");
  }, TIMEOUT);
});
