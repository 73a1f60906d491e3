import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { defaultRateLimits, loadConfig, type ConfigOverrides } from '../../src/config/load.js';
import type { BootstrapResult } from '../../src/server/bootstrap.js';
import { startPortcullis, type RunningPortcullis, type StartOptions } from '../../src/server/portcullis.js';
import { writeConfigFile } from './config-file.js';

export interface TestServer {
  url: string;
  issuer: string;
  dataDir: string;
  running: RunningPortcullis;
  /** Every JSON log line the server wrote. */
  logs: string[];
  admin: { username: string; password: string };
  demoClientId: string;
  demoRedirectUri: string;
  close(): Promise<void>;
}

/** Finds a free loopback port, so the issuer URL can name it before the server starts. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Raises the sign-in and registration limits, because suites that run many
 * flows from one address would otherwise hit them. Tests of those limits
 * pass a configuration file of their own.
 */
async function generousLimitsFile(): Promise<string> {
  const defaults = defaultRateLimits();
  return writeConfigFile({
    rateLimit: {
      signIn: { ...defaults.signIn, limit: 100_000, burst: 100_000 },
      registration: { ...defaults.registration, limit: 100_000, burst: 100_000 },
    },
  });
}

/** Starts Portcullis with a fresh data directory on a loopback port, capturing its logs. */
export async function startTestServer(overrides: ConfigOverrides = {}, start: Pick<StartOptions, 'demoOrderImport'> = {}): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'portcullis-test-'));
  const port = await freePort();
  const configFile = overrides.config ?? (await generousLimitsFile());
  const config = loadConfig({ port, dataDir, logLevel: 'debug', ...overrides, config: configFile }, {});
  const logs: string[] = [];
  let bootstrap: BootstrapResult | undefined;

  const running = await startPortcullis(config, {
    ...start,
    logDestination: { write: (line: string) => void logs.push(line) },
    onBootstrap: (result) => {
      bootstrap = result;
    },
  });

  if (bootstrap?.admin === undefined || bootstrap.demoClient === undefined) {
    throw new Error('first start did not create the admin account and demo client');
  }

  return {
    url: running.url,
    issuer: config.issuer,
    dataDir,
    running,
    logs,
    admin: bootstrap.admin,
    demoClientId: bootstrap.demoClient.clientId,
    demoRedirectUri: bootstrap.demoClient.redirectUri,
    async close() {
      await running.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
