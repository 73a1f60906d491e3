import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { runCli, type CliResult } from '../support/cli.js';
import { writeConfigFile } from '../support/config-file.js';
import { postgresUrlForSchema } from '../support/databases.js';
import { freePort } from '../support/server.js';

// Each run is a new Node.js process compiling TypeScript, several seconds apiece on a busy machine.
const TIMEOUT = 60_000;

/** Listens on `port` of 127.0.0.1, as another process holding the port would. */
async function occupy(port: number): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return server;
}

async function release(server: Server): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Checks the common promises of a failed start: exit code 1, one explained message and no stack trace. */
function expectExplainedFailure(result: CliResult): void {
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(/^error: /m);
  expect(result.stderr).not.toContain('unexpected failure');
  expect(result.stderr).not.toMatch(/\n\s+at /);
}

describe('start failures', () => {
  let dataDir: string;

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'portcullis-start-'));
  });

  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('names a port in use before first start', async () => {
    const port = await freePort();
    const holder = await occupy(port);
    try {
      const result = await runCli(['start', '--port', String(port), '--data-dir', dataDir]);
      expectExplainedFailure(result);
      expect(result.stderr).toContain(`the server cannot listen on 127.0.0.1:${port}: the address is already in use`);
      expect(result.stderr).toContain('--port, PORTCULLIS_PORT or the port config key');
      expect(result.stderr).not.toContain('password');
      expect(await readdir(dataDir)).toEqual([]);
    } finally {
      await release(holder);
    }
  }, TIMEOUT);

  it('names a metrics port in use', async () => {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const holder = await occupy(metricsPort);
    try {
      const config = await writeConfigFile({ metrics: { enabled: true, port: metricsPort } });
      const result = await runCli(['start', '--config', config, '--port', String(port), '--data-dir', dataDir]);
      expectExplainedFailure(result);
      expect(result.stderr).toContain(`the metrics listener cannot listen on 127.0.0.1:${metricsPort}: the address is already in use`);
      expect(result.stderr).toContain('metrics.port config key');
      expect(await readdir(dataDir)).toEqual([]);
    } finally {
      await release(holder);
    }
  }, TIMEOUT);

  it('names a data directory that is a file', async () => {
    const file = join(dataDir, 'data');
    await writeFile(file, 'not a directory');
    const result = await runCli(['start', '--port', String(await freePort()), '--data-dir', file]);
    expectExplainedFailure(result);
    expect(result.stderr).toContain(`data directory ${file} exists but is not a directory; check --data-dir`);
    expect(await readdir(dataDir)).toEqual(['data']);
  }, TIMEOUT);

  it('names a PostgreSQL schema that does not exist', async () => {
    const databaseUrl = postgresUrlForSchema(`portcullis_missing_${randomBytes(6).toString('hex')}`);
    const result = await runCli(['start', '--port', String(await freePort()), '--data-dir', dataDir, '--database-url', databaseUrl]);
    expectExplainedFailure(result);
    expect(result.stderr).toContain('PostgreSQL has no schema to create tables in');
    expect(result.stderr).toContain('CREATE SCHEMA');
  }, TIMEOUT);

  it('names a quota on an undeclared operation', async () => {
    const flow = { name: 'reports', method: 'POST', path: '/reports', key: ['sub'], limit: 5, period: '1h', onStoreFailure: 'closed' };
    const config = await writeConfigFile({ rateLimit: { flows: [flow] } });
    const result = await runCli(['start', '--config', config, '--port', String(await freePort()), '--data-dir', dataDir]);
    expectExplainedFailure(result);
    expect(result.stderr).toContain('rateLimit/flows/0: POST /reports is not a declared operation of any upstream');
    expect(await readdir(dataDir)).toEqual([]);
  }, TIMEOUT);

  it('names a database file of another format', async () => {
    const database = join(dataDir, 'portcullis.sqlite');
    await writeFile(database, randomBytes(4096));
    const result = await runCli(['start', '--port', String(await freePort()), '--data-dir', dataDir]);
    expectExplainedFailure(result);
    expect(result.stderr).toContain(`the database file ${database} is not an SQLite database`);
    expect(result.stderr).not.toContain('password');
  }, TIMEOUT);
});
