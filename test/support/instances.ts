import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as client from 'openid-client';

import { defaultRateLimits, loadConfig } from '../../src/config/load.js';
import type { BootstrapResult } from '../../src/server/bootstrap.js';
import { ListenError } from '../../src/server/listen-check.js';
import { startPortcullis } from '../../src/server/portcullis.js';
import { REDIS_URL, writeConfigFile } from './config-file.js';
import { createPostgresSchema, type TestDatabase } from './databases.js';
import { START_ATTEMPTS, freePort, type TestServer } from './server.js';

/** Several Portcullis instances behind one issuer, sharing PostgreSQL, Redis and the server secret. */
export interface TestInstances {
  instances: TestServer[];
  database: TestDatabase;
  /** What each instance's first-start setup created, in the order they finished. */
  bootstraps: BootstrapResult[];
  close(): Promise<void>;
}

export interface InstancesOptions {
  count: number;
  /** Rate-limit settings merged over the defaults, for example a tight global limit. */
  rateLimit?: Record<string, unknown>;
  /** Redis URL shared by the instances; null runs them without Redis. */
  redisUrl?: string | null;
  /** Treat `redisUrl` as a seed node of a Redis Cluster. */
  redisCluster?: boolean;
  /** Port to reach PostgreSQL on instead of its own, for a relay a test can cut. */
  postgresPort?: number;
  /** Start every instance at the same moment instead of one after another. */
  startAtOnce?: boolean;
  /** Gateway settings of the configuration file, for example a longer revocation check reuse. */
  gateway?: Record<string, unknown>;
}

/**
 * Starts `count` instances on their own loopback ports. They share one
 * issuer (the first instance's address), one fresh PostgreSQL schema, Redis
 * and one data directory for the server secret, as a deployment behind a load
 * balancer would. The first instance bootstraps the admin and demo client.
 */
export async function startInstances(options: InstancesOptions): Promise<TestInstances> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startInstancesOnce(options);
    } catch (error) {
      // Each instance starts seconds after freePort found its port, and
      // another process can bind that port in between.
      const portTaken = error instanceof ListenError && error.code === 'EADDRINUSE';
      if (!portTaken || attempt === START_ATTEMPTS) {
        throw error;
      }
    }
  }
}

async function startInstancesOnce(options: InstancesOptions): Promise<TestInstances> {
  const dataDir = await mkdtemp(join(tmpdir(), 'portcullis-shared-'));
  const database = await createPostgresSchema();
  const databaseUrl = new URL(database.url);
  if (options.postgresPort !== undefined) {
    databaseUrl.port = String(options.postgresPort);
  }
  const ports = await Promise.all(Array.from({ length: options.count }, () => freePort()));
  const issuer = `http://127.0.0.1:${ports[0]}`;
  const defaults = defaultRateLimits();
  const configFile = await writeConfigFile({
    rateLimit: {
      ...defaults,
      signIn: { ...defaults.signIn, limit: 100_000, burst: 100_000 },
      registration: { ...defaults.registration, limit: 100_000, burst: 100_000 },
      // Failed sign-ins are counted per address in the shared Redis, where
      // other suites on this machine record failures from 127.0.0.1 too.
      login: { ...defaults.login, accountTotalThreshold: 100_000, addressThreshold: 100_000 },
      // Limits that fail closed, sign-in among them, deny a request whose
      // Redis reply comes after this timeout. 5 s covers a loaded machine.
      storeTimeoutMs: 5000,
      ...options.rateLimit,
    },
    ...(options.gateway === undefined ? {} : { gateway: options.gateway }),
  });

  const instances: TestServer[] = [];
  const bootstraps: BootstrapResult[] = [];
  const startOne = async (port: number): Promise<TestServer> => {
    const config = loadConfig(
      {
        port,
        issuer,
        dataDir,
        databaseUrl: databaseUrl.href,
        redisUrl: options.redisUrl === null ? undefined : (options.redisUrl ?? REDIS_URL),
        redisCluster: options.redisCluster,
        logLevel: 'debug',
        config: configFile,
      },
      {},
    );
    const logs: string[] = [];
    const running = await startPortcullis(config, {
      logDestination: { write: (line: string) => void logs.push(line) },
      onBootstrap: (result) => {
        bootstraps.push(result);
      },
    });
    const bootstrap = bootstraps.find((result) => result.admin !== undefined);
    return {
      url: running.url,
      issuer,
      dataDir,
      running,
      logs,
      admin: bootstrap?.admin ?? { username: '', password: '' },
      demoClientId: bootstrap?.demoClient?.clientId ?? '',
      demoRedirectUri: bootstrap?.demoClient?.redirectUri ?? '',
      close: async () => {
        await running.close();
      },
    };
  };

  try {
    if (options.startAtOnce === true) {
      const started = await Promise.allSettled(ports.map(startOne));
      instances.push(...started.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : [])));
      const failure = started.find((outcome) => outcome.status === 'rejected');
      if (failure !== undefined) {
        throw (failure as PromiseRejectedResult).reason;
      }
    } else {
      for (const port of ports) {
        instances.push(await startOne(port));
      }
    }
  } catch (error) {
    await Promise.all(instances.map((instance) => instance.close()));
    await database.drop();
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }

  return {
    instances,
    database,
    bootstraps,
    async close() {
      await Promise.all(instances.map((instance) => instance.close()));
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Sends the back-channel requests of an openid-client configuration to
 * `instance` instead of the issuer's address, as a load balancer might.
 */
export function routeTo(config: client.Configuration, instance: TestServer): void {
  const issuerOrigin = new URL(instance.issuer).origin;
  config[client.customFetch] = (url, init) => {
    const target = url.startsWith(issuerOrigin) ? `${instance.url}${url.slice(issuerOrigin.length)}` : url;
    return fetch(target, init as RequestInit);
  };
}
