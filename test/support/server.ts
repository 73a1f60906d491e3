import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { defaultRateLimits, loadConfig, type ConfigOverrides } from '../../src/config/load.js';
import type { BootstrapResult } from '../../src/server/bootstrap.js';
import { ListenError } from '../../src/server/listen-check.js';
import { startPortcullis, type RunningPortcullis, type StartOptions } from '../../src/server/portcullis.js';
import { writeConfigFile } from './config-file.js';
import { freePort } from './ports.js';

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

export { freePort };

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

/** Maximum starts, each on a new port, when another process takes the free port first. */
export const START_ATTEMPTS = 3;

/** Starts Portcullis with a fresh data directory on a loopback port, capturing its logs. */
export async function startTestServer(overrides: ConfigOverrides = {}, start: Pick<StartOptions, 'demoOrderImport'> = {}): Promise<TestServer> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startTestServerOnce(overrides, start);
    } catch (error) {
      // The port that freePort found stays free only until another process
      // binds it, which on a busy machine can happen before the server listens.
      const portTaken = error instanceof ListenError && error.code === 'EADDRINUSE';
      if (!portTaken || overrides.port !== undefined || attempt === START_ATTEMPTS) {
        throw error;
      }
    }
  }
}

async function startTestServerOnce(overrides: ConfigOverrides, start: Pick<StartOptions, 'demoOrderImport'>): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'portcullis-test-'));
  const port = await freePort();
  const configFile = overrides.config ?? (await generousLimitsFile());
  const config = loadConfig({ port, dataDir, logLevel: 'debug', ...overrides, config: configFile }, {});
  const logs: string[] = [];
  let bootstrap: BootstrapResult | undefined;

  let running: RunningPortcullis;
  try {
    running = await startPortcullis(config, {
      ...start,
      logDestination: { write: (line: string) => void logs.push(line) },
      onBootstrap: (result) => {
        bootstrap = result;
      },
    });
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }

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
