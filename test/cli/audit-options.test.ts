import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from '../support/cli.js';

const CLI_TEST_TIMEOUT_MS = 60_000;

let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'portcullis-audit-options-'));
});

afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('audit command options', () => {
  it.each([[''], [','], [' , ']])("rejects the empty type list '%s'", { timeout: CLI_TEST_TIMEOUT_MS }, async (value) => {
    const result = await runCli(['audit', '--type', value, '--data-dir', dataDir]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`--type must name at least one event type, got '${value}'`);
  });

  it.each([[' 5'], ['1e3'], ['0x10'], ['5.0'], ['0'], ['100001']])("rejects the limit '%s'", { timeout: CLI_TEST_TIMEOUT_MS }, async (value) => {
    const result = await runCli(['audit', '--limit', value, '--data-dir', dataDir]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`--limit must be a whole number from 1 to 100000, got '${value}'`);
  });
});
