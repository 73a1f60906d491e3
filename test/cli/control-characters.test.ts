import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load.js';
import { findControlCharacter } from '../../src/core/control-characters.js';
import { identifierKey } from '../../src/core/registration-rules.js';
import { openDatabase } from '../../src/store/database.js';
import { runCli } from '../support/cli.js';

// Each run is a new Node.js process compiling TypeScript, several seconds apiece on a busy machine.
const TIMEOUT = 300_000;

/**
 * Text that clears the terminal, forges a line of its own and ends with a
 * bidirectional override and U+009B, the one-byte CSI of some terminals.
 */
const HOSTILE = 'x\u001b[2J\nforged\u202e\u009b';
const ESCAPED = 'x\\u001b[2J\\u000aforged\\u202e\\u009b';

/** Returns the first control or format character of `text` other than the line feeds and tabs of the layout. */
function rawControlCharacter(text: string): string | undefined {
  return findControlCharacter(text.replace(/[\n\t]/g, ''));
}

function expectEscaped(output: string, label: string): void {
  expect(rawControlCharacter(output), label).toBeUndefined();
  expect(output, label).toContain(ESCAPED);
  expect(output.split('\n').filter((line) => line.startsWith('forged')), label).toEqual([]);
}

describe('CLI output with control characters', () => {
  let parent: string;
  let dataDir: string;

  beforeAll(async () => {
    parent = await mkdtemp(join(tmpdir(), 'portcullis-control-'));
    dataDir = join(parent, 'data');
    const added = await runCli(['users', 'add', 'alice', '--email', 'alice@example.com', '--data-dir', dataDir], 'Sturdy-Passw0rd\n');
    expect(added.code, added.stderr).toBe(0);
  }, TIMEOUT);

  afterAll(async () => {
    await rm(parent, { recursive: true, force: true });
  });

  it('escapes arguments in error messages', async () => {
    const jwksFile = join(parent, `keys${HOSTILE}.json`);
    await writeFile(jwksFile, 'not json');
    const store = ['--data-dir', dataDir];
    const cases: Array<[string, string[]]> = [
      ['unknown command', ['users', HOSTILE]],
      ['users roles', ['users', 'roles', 'alice', '--role', HOSTILE, ...store]],
      ['apikeys rotate', ['apikeys', 'rotate', HOSTILE, ...store]],
      ['apikeys rotate --grace', ['apikeys', 'rotate', 'id', '--grace', HOSTILE, ...store]],
      ['audit --since', ['audit', '--since', HOSTILE, ...store]],
      ['audit --type', ['audit', '--type', HOSTILE, ...store]],
      ['clients remove', ['clients', 'remove', HOSTILE, ...store]],
      ['clients add --jwks-file', ['clients', 'add', '--name', 'n', '--confidential', '--grant', 'client_credentials', '--scope', 'orders:read', '--auth', 'private_key_jwt', '--jwks-file', jwksFile, ...store]],
      ['start --port', ['start', '--port', HOSTILE, '--data-dir', dataDir]],
    ];
    for (const [label, args] of cases) {
      const result = await runCli(args);
      expect(result.code, label).toBe(1);
      expectEscaped(result.stderr, label);
    }
  }, TIMEOUT);

  it('withholds usernames that cannot exist', async () => {
    const store = ['--data-dir', dataDir];
    const cases: Array<[string, string[]]> = [
      ['users disable', ['users', 'disable', HOSTILE, ...store]],
      ['apikeys create', ['apikeys', 'create', '--owner', HOSTILE, '--name', 'n', '--scope', 'orders:read', ...store]],
    ];
    for (const [label, args] of cases) {
      const result = await runCli(args);
      expect(result.code, label).toBe(1);
      expect(rawControlCharacter(result.stderr), label).toBeUndefined();
      expect(result.stderr, label).not.toContain('forged');
      expect(result.stderr, label).toContain('no account with the given username');
    }
  }, TIMEOUT);

  it('escapes the data directory path', async () => {
    // A line feed in the path makes the database URL invalid, so this path has none.
    const result = await runCli(['users', 'list', '--data-dir', join(parent, 'x\u001b[2J\u202e')]);
    expect(result.code).toBe(1);
    expect(rawControlCharacter(result.stderr)).toBeUndefined();
    expect(result.stderr).toContain('x\\u001b[2J\\u202e does not exist');
  }, TIMEOUT);

  it('keeps the line of a Commander suggestion', async () => {
    // Close enough to --json for Commander to suggest it.
    const result = await runCli(['users', 'list', '--jso\u001b']);
    expect(result.code).toBe(1);
    expect(rawControlCharacter(result.stderr)).toBeUndefined();
    expect(result.stderr).toContain("error: unknown option '--jso\\u001b'\n(Did you mean --json?)\n");
  }, TIMEOUT);

  it('keeps one line per redirect URI problem', async () => {
    const result = await runCli(['clients', 'add', '--name', 'n', '--public', '--redirect-uri', `ftp://${HOSTILE}`, '--redirect-uri', HOSTILE, '--data-dir', dataDir]);
    expect(result.code).toBe(1);
    expectEscaped(result.stderr, 'clients add');
    const problems = result.stderr.split('\n').filter((line) => line.includes('--redirect-uri'));
    expect(problems).toHaveLength(2);
  }, TIMEOUT);

  it('escapes environment variables in configuration errors', async () => {
    const result = await runCli(['users', 'list', '--data-dir', dataDir], '', { PORTCULLIS_PORT: HOSTILE });
    expect(result.code).toBe(1);
    expectEscaped(result.stderr, 'PORTCULLIS_PORT');
    expect(result.stderr).toContain('error: Invalid configuration:\n  PORTCULLIS_PORT: must be a whole number');
  }, TIMEOUT);

  it('escapes stored usernames in results', async () => {
    // A row written by an earlier version without input checks, or directly in the database.
    const db = await openDatabase(loadConfig({ dataDir }, {}).database);
    try {
      await db.updateTable('accounts').set({ username: HOSTILE, username_key: identifierKey(HOSTILE) }).where('username', '=', 'alice').execute();
    } finally {
      await db.destroy();
    }

    for (const command of ['disable', 'enable']) {
      const result = await runCli(['users', command, HOSTILE, '--data-dir', dataDir]);
      expect(result.code, result.stderr).toBe(0);
      expectEscaped(result.stdout, command);
    }
    // JSON.stringify leaves U+007F to U+009F and format characters as they are.
    const listed = await runCli(['users', 'list', '--json', '--data-dir', dataDir]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(rawControlCharacter(listed.stdout)).toBeUndefined();
    expect(listed.stdout).toContain('"username": "x\\u001b[2J\\nforged\\u202e\\u009b"');
    expect((JSON.parse(listed.stdout) as Array<{ username: string }>)[0]?.username).toBe(HOSTILE);

    const removed = await runCli(['users', 'remove', HOSTILE, '--data-dir', dataDir]);
    expect(removed.code, removed.stderr).toBe(0);
    expectEscaped(removed.stdout, 'remove');
  }, TIMEOUT);
});
