import type { RedisOptions } from 'ioredis';

import { createCluster, loadIoredis } from '../backends/redis.js';
import type { PortcullisConfig } from '../config/schema.js';
import { parseDuration } from '../core/duration.js';
import { RateLimiter } from '../core/rate-limit/limiter.js';
import { ClientAuthThrottle } from '../core/rate-limit/client-auth-throttle.js';
import { RepeatedFailureReports } from '../core/rate-limit/failure-reports.js';
import { LoginThrottle } from '../core/rate-limit/login-throttle.js';
import { MemoryRateLimitStore } from '../core/rate-limit/memory-store.js';
import { RedisRateLimitStore } from '../core/rate-limit/redis-store.js';
import type { RateLimitStore } from '../core/rate-limit/types.js';
import type { Logger } from '../http/logger.js';

/** How often a failing store is reported, at most, in milliseconds. */
const STORE_WARNING_INTERVAL_MS = 30_000;
/** How long the start waits for Redis before serving with the failure modes, in milliseconds. */
const REDIS_CONNECT_WAIT_MS = 3000;
/**
 * How long a command may take past `storeTimeoutMs`, in milliseconds. The
 * limiter stops waiting at `storeTimeoutMs`, but the client keeps the
 * command, so a decision that arrives late can still be refunded.
 */
const LATE_REPLY_WAIT_MS = 2000;

export interface RateLimiting {
  limiter: RateLimiter;
  loginThrottle: LoginThrottle;
  clientAuthThrottle: ClientAuthThrottle;
  close(): Promise<void>;
}

async function createStore(config: Readonly<PortcullisConfig>, logger: Logger): Promise<RateLimitStore> {
  const settings = config.rateLimit;
  if (settings.store === 'memory') {
    return new MemoryRateLimitStore(settings.memoryMaxKeys);
  }

  // Commands fail at once while Redis is unreachable instead of queueing, so
  // each limit's failure mode applies without delay. ioredis keeps
  // reconnecting in the background, and the limiter recovers by itself.
  const options: RedisOptions = {
    keyPrefix: config.redisKeyPrefix,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // NOTE: a reply later than this is dropped, and what its script charged stays.
    commandTimeout: settings.storeTimeoutMs + LATE_REPLY_WAIT_MS,
    retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
    lazyConnect: false,
  };
  // The store puts the checks of one consumer from one tick into one
  // command itself, and auto-pipelining would only delay that command by
  // another turn of the event loop.
  const { Redis } = await loadIoredis();
  // The cluster client's ready check is a CLUSTER INFO under the store's
  // short command timeout. Each timed-out check makes ioredis 5 reconnect,
  // and in some test runs the client then stayed not ready for over 45 s.
  // /readyz probes the store with a PING instead.
  const redis = config.redisCluster
    ? await createCluster(settings.redisUrl, options, { enableReadyCheck: false })
    : new Redis(settings.redisUrl, options);
  redis.on('error', () => {
    // Reported through the limiter's rate-limited warning instead.
  });
  redis.on('ready', () => logger.info('rate-limit store connected to Redis'));

  const connected = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), REDIS_CONNECT_WAIT_MS);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  if (!connected) {
    logger.warn('Redis is not reachable yet; rate limits apply their failure modes until it is');
  }

  return new RedisRateLimitStore(redis);
}

/** Creates the limiter, the login throttle and the client authentication throttle over the configured store. */
export async function createRateLimiting(config: Readonly<PortcullisConfig>, logger: Logger): Promise<RateLimiting> {
  const store = await createStore(config, logger);
  const settings = config.rateLimit;

  const limiter = new RateLimiter(store, {
    timeoutMs: settings.storeTimeoutMs,
    warnIntervalMs: STORE_WARNING_INTERVAL_MS,
    onStoreFailure: (error, failures) =>
      logger.warn({ err: error, failures, store: settings.store }, 'rate-limit store failed; applying each limit\'s failure mode'),
  });

  // Sign-in and client authentication get 503 while the throttles cannot
  // read their counters, and each such request would otherwise log an
  // error of its own.
  const throttleFailures = new RepeatedFailureReports(
    (error, failures) =>
      logger.warn({ err: error, failures, store: settings.store }, 'throttle store failed; sign-ins and client authentications get 503 until it recovers'),
    STORE_WARNING_INTERVAL_MS,
  );
  const onStoreFailure = (error: Error) => throttleFailures.add(error);

  const loginThrottle = new LoginThrottle(store, {
    accountThreshold: settings.login.accountThreshold,
    accountTotalThreshold: settings.login.accountTotalThreshold,
    addressThreshold: settings.login.addressThreshold,
    windowMs: parseDuration(settings.login.window),
    baseDelayMs: parseDuration(settings.login.baseDelay),
    maxDelayMs: parseDuration(settings.login.maxDelay),
    storeTimeoutMs: settings.storeTimeoutMs,
    onStoreFailure,
  });

  const clientAuth = settings.clientAuthentication;
  const clientAuthThrottle = new ClientAuthThrottle(store, {
    clientThreshold: clientAuth.clientThreshold,
    clientTotalThreshold: clientAuth.clientTotalThreshold,
    addressThreshold: clientAuth.addressThreshold,
    windowMs: parseDuration(clientAuth.window),
    baseDelayMs: parseDuration(clientAuth.baseDelay),
    maxDelayMs: parseDuration(clientAuth.maxDelay),
    storeTimeoutMs: settings.storeTimeoutMs,
    onStoreFailure,
  });

  return { limiter, loginThrottle, clientAuthThrottle, close: () => store.close() };
}
