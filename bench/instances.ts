/**
 * Measures gateway throughput of one Portcullis instance against two
 * instances that share PostgreSQL and Redis, for `GET /api/orders` with a
 * JWT access token, and prints a Markdown table.
 *
 * Usage: npm run bench:instances [-- --seconds 10 --connections 50
 *          --postgres postgres://postgres@127.0.0.1:5432/test --redis redis://127.0.0.1:6379]
 *
 * The instances run as child processes started from source. The benchmark
 * creates its own PostgreSQL schema and drops it at the end. Two instances
 * are loaded by two load generators at once, with half the connections each.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { stringify } from 'yaml';
import { writeFile } from 'node:fs/promises';

import { defaultRateLimits } from '../src/config/load.js';
import { selectLoadGenerator, type LoadResult } from './lib/load.js';
import { freePort } from '../test/support/server.js';
import { UNREACHABLE_LIMIT_PER_SECOND, obtainCredentials } from './lib/portcullis.js';
import { startProcess, stopAll, waitForHttp, waitForPort } from './lib/processes.js';

const REPOSITORY_ROOT = join(import.meta.dirname, '..');
const START_TIMEOUT_MS = 60_000;

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    postgres: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

async function withPostgres<T>(action: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: values.postgres });
  await client.connect();
  try {
    return await action(client);
  } finally {
    await client.end();
  }
}

async function startInstance(env: NodeJS.ProcessEnv, issuer?: string): Promise<{ url: string; issuer: string }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const managed = startProcess({
    name: `Portcullis on ${port}`,
    command: process.execPath,
    args: ['--import', 'tsx', join(REPOSITORY_ROOT, 'src/cli/main.ts'), 'start'],
    env: { ...process.env, ...env, NODE_ENV: 'production', PORTCULLIS_PORT: String(port), PORTCULLIS_ISSUER: issuer ?? url },
    core: undefined,
  });
  await waitForHttp(managed, `${url}/healthz`, START_TIMEOUT_MS);
  return { url, issuer: issuer ?? url };
}

async function measure(directory: string, schema: string): Promise<void> {
  const databaseUrl = new URL(values.postgres);
  databaseUrl.searchParams.set('options', `-c search_path=${schema}`);
  const defaults = defaultRateLimits();
  const configPath = join(directory, 'portcullis.yaml');
  await writeFile(
    configPath,
    stringify({
      logLevel: 'warn',
      tokens: { accessToken: 86_400 },
      rateLimit: {
        global: { ...defaults.global, limit: UNREACHABLE_LIMIT_PER_SECOND, period: '1s' },
        // Failed sign-ins from 127.0.0.1 by other programs on this Redis must not throttle the benchmark's sign-in.
        login: { ...defaults.login, accountTotalThreshold: 100_000, addressThreshold: 100_000 },
      },
    }),
  );

  const upstream = startProcess({
    name: 'upstream',
    command: process.execPath,
    args: ['--import', 'tsx', join(REPOSITORY_ROOT, 'bench/servers/upstream.ts')],
    env: { ...process.env, NODE_ENV: 'production' },
    core: undefined,
  });
  const upstreamUrl = `http://127.0.0.1:${await waitForPort(upstream, START_TIMEOUT_MS)}`;

  // The admin context that creates the benchmark account reads these too.
  process.env['PORTCULLIS_DATABASE_URL'] = databaseUrl.href;
  process.env['PORTCULLIS_REDIS_URL'] = values.redis;
  const env = {
    PORTCULLIS_CONFIG: configPath,
    PORTCULLIS_DATA_DIR: join(directory, 'data'),
    PORTCULLIS_HOST: '127.0.0.1',
    PORTCULLIS_UPSTREAM_URL: upstreamUrl,
  };
  const first = await startInstance(env);
  const second = await startInstance(env, first.issuer);
  // One token for every request, as in the measured run.
  const credentials = await obtainCredentials(first.issuer, env.PORTCULLIS_DATA_DIR, 1);
  const headers = { authorization: `Bearer ${credentials.accessToken}` };

  const generator = selectLoadGenerator();
  const run = (url: string, share: number): Promise<LoadResult> =>
    generator.run({ url: `${url}/api/orders`, headers, seconds, connections: share, core: undefined });

  log('warming up');
  await Promise.all([run(first.url, connections / 2), run(second.url, connections / 2)]);

  log('one instance');
  const single = await run(first.url, connections);
  log('two instances');
  const pair = await Promise.all([run(first.url, connections / 2), run(second.url, connections / 2)]);

  const rows = [
    ['one instance', single.requestsPerSecond, single.p50Ms, single.p99Ms, single.non2xx + single.socketErrors],
    [
      'two instances',
      pair.reduce((sum, result) => sum + result.requestsPerSecond, 0),
      Math.max(...pair.map((result) => result.p50Ms)),
      Math.max(...pair.map((result) => result.p99Ms)),
      pair.reduce((sum, result) => sum + result.non2xx + result.socketErrors, 0),
    ],
  ] as const;

  process.stdout.write(
    [
      `Machine: ${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), Node.js ${process.version}, ${generator.description}, ${seconds} s per run, ${connections} connections in all.`,
      '',
      '| set-up | requests/s | p50 ms | p99 ms | errors |',
      '| --- | ---: | ---: | ---: | ---: |',
      ...rows.map(([label, rps, p50, p99, errors]) => `| ${label} | ${Math.round(rps).toLocaleString('en-US')} | ${p50.toFixed(1)} | ${p99.toFixed(1)} | ${errors} |`),
      '',
    ].join('\n'),
  );
}

async function main(): Promise<void> {
  const directory = await mkdtemp(join(tmpdir(), 'portcullis-bench-instances-'));
  const schema = `portcullis_bench_${randomBytes(6).toString('hex')}`;
  await withPostgres((client) => client.query(`create schema ${schema}`));

  try {
    await measure(directory, schema);
  } finally {
    await stopAll();
    await withPostgres((client) => client.query(`drop schema if exists ${schema} cascade`));
    await rm(directory, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`benchmark failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
