import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';

import { BackendUnavailableError, redactUrl } from './backend-error.js';

/** A Redis connection: one server or a Redis Cluster. */
export type RedisClient = Redis | Cluster;

/** How long the start waits for Redis to respond, in milliseconds. */
const CONNECT_TIMEOUT_MS = 3000;
/** How long one command may take before it fails, in milliseconds. */
const COMMAND_TIMEOUT_MS = 2000;

export interface RedisConnectOptions {
  /** Treat the URL as a seed node of a Redis Cluster. */
  cluster?: boolean;
  /** Prefix that the client puts before every key. Default none. */
  keyPrefix?: string;
  /** Receives connection errors after the start; ioredis reconnects by itself. */
  onError?: (error: Error) => void;
}

/**
 * Connects to Redis and waits until it answers.
 *
 * Commands fail at once while Redis is unreachable instead of queueing, so a
 * request that needs Redis gets a 503 rather than hanging; ioredis keeps
 * reconnecting in the background. Throws BackendUnavailableError when Redis
 * does not answer within three seconds.
 */
export async function connectRedis(url: string, options: RedisConnectOptions = {}): Promise<RedisClient> {
  const keyPrefix = options.keyPrefix ?? '';
  const client = options.cluster === true ? await connectCluster(url, keyPrefix) : await connectServer(url, keyPrefix);

  const ready = await waitUntilReady(client, CONNECT_TIMEOUT_MS);
  if (ready !== true) {
    client.disconnect();
    throw new BackendUnavailableError(options.cluster === true ? 'Redis Cluster' : 'Redis', redactUrl(url), ready);
  }

  client.on('error', (error: Error) => options.onError?.(error));
  return client;
}

/**
 * Waits for `client` to be ready; returns true, or the last connection error
 * (or a timeout error) when it is not ready within `timeoutMs`.
 */
export async function waitUntilReady(client: RedisClient, timeoutMs: number): Promise<true | Error> {
  if (client.status === 'ready') {
    return true;
  }

  let lastError = new Error(`no response within ${timeoutMs} ms`);
  const onError = (error: Error) => {
    lastError = error;
  };
  client.on('error', onError);

  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    client.once('ready', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });

  client.off('error', onError);
  return ready ? true : lastError;
}

/**
 * Loads ioredis on first use, so that a process configured without Redis
 * does not keep its code in memory.
 */
export async function loadIoredis() {
  return import('ioredis');
}

async function connectServer(url: string, keyPrefix: string): Promise<Redis> {
  const { Redis } = await loadIoredis();
  return new Redis(url, {
    keyPrefix,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: COMMAND_TIMEOUT_MS,
    retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
  });
}

function connectCluster(url: string, keyPrefix: string): Promise<Cluster> {
  return createCluster(url, { keyPrefix, maxRetriesPerRequest: 0, commandTimeout: COMMAND_TIMEOUT_MS });
}

/**
 * Creates a Redis Cluster client from the URL of one seed node; the client
 * discovers the other nodes itself. The URL's user, password and `rediss:`
 * scheme apply to every node.
 */
export async function createCluster(url: string, redisOptions: RedisOptions, clusterOptions: ClusterOptions = {}): Promise<Cluster> {
  const { Cluster } = await loadIoredis();
  const seed = new URL(url);
  // The cluster client adds the prefix before it hashes a key to a slot. A
  // prefix added later by each node's client would send keys to the wrong node.
  // Node connections open lazily on their first command, so a node client
  // must queue while it connects; the cluster client fails fast, and
  // commandTimeout bounds every command.
  const { keyPrefix, enableOfflineQueue: _clusterLevel, ...nodeOptions } = redisOptions;
  return new Cluster([{ host: seed.hostname, port: Number(seed.port || 6379) }], {
    enableOfflineQueue: false,
    clusterRetryStrategy: (attempt) => Math.min(attempt * 100, 2000),
    ...clusterOptions,
    ...(keyPrefix === undefined ? {} : { keyPrefix }),
    redisOptions: {
      ...nodeOptions,
      username: seed.username === '' ? undefined : decodeURIComponent(seed.username),
      password: seed.password === '' ? undefined : decodeURIComponent(seed.password),
      tls: seed.protocol === 'rediss:' ? {} : undefined,
    },
  });
}
