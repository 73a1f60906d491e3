import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { BackendUnavailableError } from '../../src/backends/backend-error.js';
import { loadConfig, type ConfigOverrides } from '../../src/config/load.js';
import type { PortcullisConfig } from '../../src/config/schema.js';
import { checkCanListen, ListenError, metricsListener } from '../../src/server/listen-check.js';
import { startPortcullis, type StartOptions } from '../../src/server/portcullis.js';
import { ServerSecretMismatchError } from '../../src/store/server-secret.js';
import { trackResources, type ResourceTracker } from '../support/async-resources.js';
import { REDIS_URL, writeConfigFile } from '../support/config-file.js';
import { createPostgresSchema, POSTGRES_URL } from '../support/databases.js';
import { freePort } from '../support/ports.js';
import { TcpProxy } from '../support/tcp-proxy.js';

/** Maximum wait for the resources of a failed start to close, in milliseconds. Closing usually takes a few. */
const CLOSE_WAIT = { timeout: 10_000, interval: 50 };

const quiet = { write: () => undefined };

/** Waits until every timer and handle recorded by `tracker` has closed. A failure lists the ones still open. */
async function expectAllClosed(tracker: ResourceTracker): Promise<void> {
  // vi.waitFor creates its polling timers when called, and they are no part of the start.
  await tracker.untracked(() => vi.waitFor(() => expect(tracker.open()).toEqual([]), CLOSE_WAIT));
}

/** Starts Portcullis, expecting the start to fail, and returns its error. */
async function failedStart(config: Readonly<PortcullisConfig>, options: StartOptions): Promise<unknown> {
  try {
    const running = await startPortcullis(config, options);
    await running.close();
  } catch (error) {
    return error;
  }
  throw new Error('expected the start to fail, but it succeeded');
}

/** Takes an exclusive lock on the SQLite file, which fails with SQLITE_BUSY while any connection has it open. */
function lockExclusively(path: string): void {
  const db = new SQLite(path, { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE; COMMIT');
  } finally {
    db.close();
  }
}

/** Starts and stops Portcullis once with `config`, which seals a signing key with the server secret of its data directory. */
async function initialize(config: Readonly<PortcullisConfig>): Promise<void> {
  const running = await startPortcullis(config, { logDestination: quiet });
  await running.close();
}

/** Replaces the server secret of `dataDir` with a new one, as a secret copied from another installation would. */
async function replaceServerSecret(dataDir: string): Promise<void> {
  await writeFile(join(dataDir, 'server-secret'), randomBytes(32).toString('base64url'));
}

/** Listens on `port` of 127.0.0.1, as another process taking the port would. */
function occupy(port: number): Server {
  const holder = createServer();
  holder.on('error', () => undefined);
  holder.listen({ host: '127.0.0.1', port, exclusive: true });
  return holder;
}

async function release(holder: Server | undefined): Promise<void> {
  if (holder?.listening === true) {
    await new Promise<void>((resolve) => holder.close(() => resolve()));
  }
}

describe('failed start', () => {
  let dataDir: string;
  let tracker: ResourceTracker | undefined;

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'portcullis-failed-start-'));
  });

  afterEach(async () => {
    tracker?.stop();
    tracker = undefined;
    await rm(dataDir, { recursive: true, force: true });
  });

  async function configure(overrides: ConfigOverrides = {}, file: object = {}): Promise<Readonly<PortcullisConfig>> {
    return loadConfig({ port: await freePort(), dataDir, logLevel: 'warn', ...overrides, config: await writeConfigFile(file) }, {});
  }

  it('close releases every resource', async () => {
    const config = await configure({}, { metrics: { enabled: true, port: await freePort() } });

    tracker = trackResources();
    const running = await startPortcullis(config, { logDestination: quiet });
    expect(tracker.open()).toContain('TCPSERVERWRAP');
    await running.close();

    await expectAllClosed(tracker);
    lockExclusively(join(dataDir, 'portcullis.sqlite'));
    await expect(checkCanListen(metricsListener(config))).resolves.toBeUndefined();
  });

  it('secret mismatch closes the SQLite store', async () => {
    const config = await configure({}, { metrics: { enabled: true, port: await freePort() } });
    await initialize(config);
    await replaceServerSecret(dataDir);

    tracker = trackResources();
    const error = await failedStart(config, { logDestination: quiet });

    expect(error).toBeInstanceOf(ServerSecretMismatchError);
    expect((error as Error).message).toContain(`the server secret in ${join(dataDir, 'server-secret')} does not match the database`);
    await expectAllClosed(tracker);
    lockExclusively(join(dataDir, 'portcullis.sqlite'));
    await expect(checkCanListen(metricsListener(config))).resolves.toBeUndefined();
  });

  it('secret mismatch closes the PostgreSQL pool', async () => {
    const database = await createPostgresSchema();
    const applicationName = `portcullis-failed-start-${randomBytes(6).toString('hex')}`;
    const url = new URL(database.url);
    url.searchParams.set('application_name', applicationName);
    const monitor = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
    await monitor.connect();
    const connections = async () => {
      const result = await monitor.query<{ count: number }>('select count(*)::int as count from pg_stat_activity where application_name = $1', [applicationName]);
      return result.rows[0]?.count;
    };

    try {
      const config = await configure({ databaseUrl: url.href });
      const running = await startPortcullis(config, { logDestination: quiet });
      expect(await connections()).toBeGreaterThan(0);
      await running.close();
      await replaceServerSecret(dataDir);

      tracker = trackResources();
      const error = await failedStart(config, { logDestination: quiet });

      expect(error).toBeInstanceOf(ServerSecretMismatchError);
      await expectAllClosed(tracker);
      await vi.waitFor(async () => expect(await connections()).toBe(0), CLOSE_WAIT);
    } finally {
      await monitor.end();
      await database.drop();
    }
  });

  it('rethrows the original error unchanged', async () => {
    const config = await configure({}, { metrics: { enabled: true, port: await freePort() } });
    const thrown = new Error('onBootstrap failed');

    tracker = trackResources();
    const error = await failedStart(
      config,
      {
        logDestination: quiet,
        onBootstrap: () => {
          throw thrown;
        },
      },
    );

    expect(error).toBe(thrown);
    await expectAllClosed(tracker);
    lockExclusively(join(dataDir, 'portcullis.sqlite'));
    await expect(checkCanListen(metricsListener(config))).resolves.toBeUndefined();
  });

  it('main port taken late closes everything', async () => {
    const config = await configure({}, { metrics: { enabled: true, port: await freePort() } });
    let holder: Server | undefined;

    tracker = trackResources();
    try {
      // The holder binds on the next tick, long before the main listen,
      // which waits for the key load and the demo server's listen.
      const error = await failedStart(config, { logDestination: quiet, onBootstrap: () => void (holder = occupy(config.port)) });

      expect(error).toBeInstanceOf(ListenError);
      expect((error as ListenError).code).toBe('EADDRINUSE');
      expect((error as Error).message).toContain(`the server cannot listen on 127.0.0.1:${config.port}: the address is already in use`);
    } finally {
      await release(holder);
    }
    await expectAllClosed(tracker);
    lockExclusively(join(dataDir, 'portcullis.sqlite'));
    await expect(checkCanListen(metricsListener(config))).resolves.toBeUndefined();
  });

  it('metrics port taken late closes everything', async () => {
    const metricsPort = await freePort();
    const config = await configure({}, { metrics: { enabled: true, port: metricsPort } });
    let holder: Server | undefined;
    // The first log line comes after the early check and the database
    // open, and before the metrics listener binds.
    const takeMetricsPort = { write: () => void (holder ??= occupy(metricsPort)) };

    tracker = trackResources();
    try {
      const error = await failedStart(config, { logDestination: takeMetricsPort });

      expect(error).toBeInstanceOf(ListenError);
      expect((error as Error).message).toContain(`the metrics listener cannot listen on 127.0.0.1:${metricsPort}: the address is already in use`);
    } finally {
      await release(holder);
    }
    expect(holder).toBeDefined();
    await expectAllClosed(tracker);
    lockExclusively(join(dataDir, 'portcullis.sqlite'));
  });

  it('unreachable Redis closes the store', async () => {
    const closedPort = await freePort();
    const config = await configure({ redisUrl: `redis://127.0.0.1:${closedPort}` });

    tracker = trackResources();
    const error = await failedStart(config, { logDestination: quiet });

    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect((error as Error).message).toContain(`Redis at redis://127.0.0.1:${closedPort} is unreachable`);
    await expectAllClosed(tracker);
    lockExclusively(join(dataDir, 'portcullis.sqlite'));
  });

  it('stalled revocation subscriber closes Redis', async () => {
    const proxy = new TcpProxy(Number(new URL(REDIS_URL).port || 6379));
    await proxy.start(0);
    const config = await configure({ redisUrl: `redis://127.0.0.1:${proxy.port}`, logLevel: 'info' });
    // The shared connection is ready when the start logs where sessions go;
    // from then on Redis stops responding, so the subscriber's connection
    // never becomes ready.
    const silenceRedis = {
      write: (line: string) => {
        if (line.includes('sessions, interactions and codes are kept in Redis')) {
          proxy.silence();
        }
      },
    };

    tracker = trackResources();
    let error: unknown;
    try {
      error = await failedStart(config, { logDestination: silenceRedis });
    } finally {
      // A silenced proxy reads nothing, so its end of a connection stays
      // open after Portcullis closes its own. A Redis client left open
      // would reconnect after this and keep a timer or socket open.
      await proxy.stop();
    }

    expect((error as Error).message).toBe('no response within 3000 ms');
    await expectAllClosed(tracker);
    lockExclusively(join(dataDir, 'portcullis.sqlite'));
  });
});
