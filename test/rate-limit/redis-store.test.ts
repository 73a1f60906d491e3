import { randomUUID } from 'node:crypto';
import { Redis, type Command } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { RateLimiter } from '../../src/core/rate-limit/limiter.js';
import { RedisRateLimitStore, redisKey } from '../../src/core/rate-limit/redis-store.js';
import type { LimitCheck, RateLimitDecision } from '../../src/core/rate-limit/types.js';
import { REDIS_URL } from '../support/config-file.js';
import { TcpProxy } from '../support/tcp-proxy.js';

function check(key: string, limit: number, periodMs: number, burst = limit): LimitCheck {
  return { policy: 'test', kind: 'rate', subject: 'user', key, rate: { limit, periodMs, burst }, onStoreFailure: 'closed' };
}

/**
 * Runs `body` with a store on a client of its own, whose script is loaded
 * already, and returns the script calls (one EVALSHA each) that `body` made.
 */
async function scriptCallsOf(body: (store: RedisRateLimitStore) => Promise<void>): Promise<Command[]> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const store = new RedisRateLimitStore(redis);
  try {
    await store.consume([check(`warm-${randomUUID()}|test`, 1, 60_000)]);
    const send = vi.spyOn(redis, 'sendCommand');

    await body(store);
    return send.mock.calls.map(([command]) => command).filter((command) => /^eval/i.test(command.name));
  } finally {
    await store.close();
  }
}

describe('Redis store', () => {
  const connections: Redis[] = [];
  let stores: RedisRateLimitStore[];

  beforeAll(async () => {
    for (let i = 0; i < 3; i += 1) {
      const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
      connections.push(redis);
    }
    await connections[0]?.ping();
    stores = connections.map((redis) => new RedisRateLimitStore(redis));
  });

  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
  });

  it('admits exactly the limit across three clients', async () => {
    const key = `exact-${randomUUID()}|test`;
    const decisions = await Promise.all(
      Array.from({ length: 1000 }, (_unused, index) => stores[index % 3]!.consume([check(key, 100, 3_600_000)])),
    );
    expect(decisions.filter((decision) => decision.allowed)).toHaveLength(100);
  });

  it.each([3, 6, 7, 13, 999])('admits a burst of exactly %i per hour', async (limit) => {
    const key = `fraction-${randomUUID()}|test`;
    const decisions = await Promise.all(Array.from({ length: limit + 5 }, () => stores[0]!.consume([check(key, limit, 3_600_000)])));
    expect(decisions.filter((decision) => decision.allowed)).toHaveLength(limit);
  });

  it('charges nothing when one check denies', async () => {
    const consumer = `atomic-${randomUUID()}`;
    const tight = check(`${consumer}|tight`, 1, 60_000);
    const loose = check(`${consumer}|loose`, 10, 60_000);

    expect((await stores[0]!.consume([tight, loose])).allowed).toBe(true);
    const denied = await stores[1]!.consume([tight, loose]);
    expect(denied.allowed).toBe(false);
    expect(denied.results[0]?.retryAfterMs).toBeGreaterThan(0);

    const remaining = await stores[2]!.consume([loose]);
    expect(remaining.results[0]?.remaining).toBe(8);
  });

  it('decides one turn in order, in two calls', async () => {
    const key = `ordered-${randomUUID()}|test`;
    let decisions: RateLimitDecision[] = [];

    const scriptCalls = await scriptCallsOf(async (store) => {
      decisions = await Promise.all(Array.from({ length: 150 }, () => store.consume([check(key, 100, 3_600_000)])));
    });

    expect(decisions.map((decision) => decision.allowed)).toEqual(Array.from({ length: 150 }, (_unused, index) => index < 100));
    expect(decisions[99]?.results[0]?.remaining).toBe(0);
    expect(scriptCalls).toHaveLength(2);
  });

  it('charges only admitted requests of a call', async () => {
    const consumer = `shared-call-${randomUUID()}`;
    const tight = check(`${consumer}|tight`, 1, 60_000);
    const loose = check(`${consumer}|loose`, 10, 60_000);

    const [first, second, third] = await Promise.all([
      stores[0]!.consume([tight, loose]),
      stores[0]!.consume([tight, loose]),
      stores[0]!.consume([loose]),
    ]);

    expect(first?.allowed).toBe(true);
    expect(second?.allowed).toBe(false);
    expect(second?.results.map((result) => result.allowed)).toEqual([false, true]);
    expect(third?.allowed).toBe(true);
    expect(third?.results[0]?.remaining).toBe(8);
  });

  it('keeps each call to one consumer', async () => {
    const address = `ip=${randomUUID()}`;
    const users = [`sub=${randomUUID()}`, `sub=${randomUUID()}`];
    let decisions: RateLimitDecision[] = [];

    const scriptCalls = await scriptCallsOf(async (store) => {
      decisions = await Promise.all(users.map((user) => store.consume([check(`${address}|global`, 100, 60_000), check(`${user}|orders`, 100, 60_000)])));
    });

    const tagsPerCall = scriptCalls.map((command) => {
      const keyCount = Number(command.args[1]);
      const keys = command.args.slice(2, 2 + keyCount).map(String);
      return new Set(keys.map((key) => /\{([^}]*)\}/.exec(key)?.[1]));
    });
    expect(tagsPerCall.map((tags) => tags.size)).toEqual([1, 1, 1]);
    expect(decisions.map((decision) => decision.results.map((result) => result.check.key))).toEqual(
      users.map((user) => [`${address}|global`, `${user}|orders`]),
    );
    expect(decisions.map((decision) => decision.results[0]?.remaining)).toEqual([99, 98]);
  });

  it('refunds consumers of a denied request', async () => {
    const user = check(`sub=${randomUUID()}|orders`, 10, 60_000);
    const address = check(`ip=${randomUUID()}|global`, 1, 60_000);

    const admitted = await stores[0]!.consume([user, address]);
    const denied = await stores[1]!.consume([user, address]);
    // The refund goes out on the denying store's connection, ahead of this call.
    const next = await stores[1]!.consume([user]);

    expect(admitted.allowed).toBe(true);
    expect(denied.allowed).toBe(false);
    expect(denied.results.map((result) => result.allowed)).toEqual([true, false]);
    expect(next.results[0]?.remaining).toBe(8);
  });

  it('deletes a counter that a refund fills again', async () => {
    const user = check(`sub=${randomUUID()}|orders`, 10, 60_000);
    const address = check(`ip=${randomUUID()}|global`, 1, 60_000);
    await stores[0]!.consume([address]);

    await stores[0]!.consume([user, address]);

    expect(await connections[0]!.exists(redisKey(user.key))).toBe(0);
  });

  it('fails every request of a failed call', async () => {
    const offline = new Redis(REDIS_URL, { lazyConnect: true, enableOfflineQueue: false });
    offline.on('error', () => {
      // The test expects the commands below to fail.
    });
    const store = new RedisRateLimitStore(offline);
    try {
      const outcomes = await Promise.allSettled([1, 2, 3].map((index) => store.consume([check(`offline-${index}|test`, 5, 60_000)])));
      expect(outcomes.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected', 'rejected']);
    } finally {
      await store.close();
    }
  });

  it('admits a request without checks', async () => {
    expect(await stores[0]!.consume([])).toEqual({ allowed: true, results: [] });
  });

  it('rejects a reply of the wrong length', async () => {
    // A real Redis cannot be made to return a short reply, so a stand-in client does.
    const client = {
      isCluster: false,
      defineCommand(this: Record<string, unknown>, name: string) {
        this[name] = async () => [1, 1, 5];
      },
      disconnect() {},
    };
    const store = new RedisRateLimitStore(client as unknown as Redis);

    await expect(store.consume([check('short-reply|test', 5, 60_000)])).rejects.toThrow('returned an invalid reply: 3 values, expected 5');
  });

  it('keeps one consumer in one hash slot', () => {
    expect(redisKey('sub=alice|per-second:GET /api/orders')).toBe('rl:{sub=alice}per-second:GET /api/orders');
    expect(redisKey('sub=alice|daily:all')).toMatch(/^rl:\{sub=alice\}/);
  });

  it('lets keys expire on their own', async () => {
    const key = `expiry-${randomUUID()}|test`;
    // At ten per minute, the key of one request expires after one emission
    // interval (6 s), so the read below has time to run on a loaded machine.
    await stores[0]!.consume([check(key, 10, 60_000)]);
    const ttl = await connections[0]!.pttl(redisKey(key));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(6000);
  });

  it('counts failures with a window', async () => {
    const key = `failures-${randomUUID()}|failures`;
    expect(await stores[0]!.recordFailure(key, 60_000)).toBe(1);
    expect(await stores[1]!.recordFailure(key, 60_000)).toBe(2);
    const counted = await stores[2]!.failures(key, 60_000);
    expect(counted.count).toBe(2);
    expect(counted.lastFailureAgoMs).toBeLessThan(5000);
    await stores[0]!.resetFailures(key);
    expect((await stores[1]!.failures(key, 60_000)).count).toBe(0);
  });
});

/**
 * Waits until every command sent on `redis` has its reply. A late reply
 * queues its refund in the same turn of the event loop, so an empty queue
 * means the refund has been applied too.
 */
async function repliesReceived(redis: Redis): Promise<void> {
  await vi.waitFor(() => expect(redis.commandQueue.length).toBe(0), { timeout: 5000, interval: 20 });
}

describe('Redis store on a stalled Redis', () => {
  const proxy = new TcpProxy(Number(new URL(REDIS_URL).port || 6379));
  let redis: Redis;
  let limiter: RateLimiter;

  beforeAll(async () => {
    await proxy.start();
    // As the server configures it: commands may take longer than the limiter waits.
    redis = new Redis(`redis://127.0.0.1:${proxy.port}`, { maxRetriesPerRequest: 0, commandTimeout: 3000 });
    await redis.ping();
    // Long enough that a reply through the proxy comes in time on a loaded machine.
    limiter = new RateLimiter(new RedisRateLimitStore(redis), { timeoutMs: 1000, warnIntervalMs: 60_000, onStoreFailure: () => {} });
  });

  afterAll(async () => {
    redis?.disconnect();
    await proxy.stop();
  });

  it('refunds late charges of rejected requests', async () => {
    const quota = check(`stalled-${randomUUID()}|test`, 2, 3_600_000);

    proxy.hold();
    const rejected = await Promise.all([limiter.consume([quota]), limiter.consume([quota])]);
    expect(rejected.map((decision) => decision.allowed)).toEqual([false, false]);
    expect(rejected.every((decision) => decision.storeFailure !== undefined)).toBe(true);

    proxy.release();
    // The late reply arrives, and the refund goes out on the same connection before any later call.
    await repliesReceived(redis);

    const later = await Promise.all([limiter.consume([quota]), limiter.consume([quota]), limiter.consume([quota])]);
    expect(later.map((decision) => decision.allowed)).toEqual([true, true, false]);
    expect(later.every((decision) => decision.storeFailure === undefined)).toBe(true);
  });

  it('keeps what admitted requests charged late', async () => {
    const open = { ...check(`stalled-open-${randomUUID()}|test`, 2, 3_600_000), onStoreFailure: 'open' as const };

    proxy.hold();
    const admitted = await Promise.all([limiter.consume([open]), limiter.consume([open])]);
    expect(admitted.map((decision) => decision.allowed)).toEqual([true, true]);

    proxy.release();
    await repliesReceived(redis);

    expect((await limiter.consume([open])).allowed).toBe(false);
  });
});

describe('Redis store with one consumer failing', () => {
  let redis: Redis;
  let limiter: RateLimiter;

  beforeAll(async () => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    await redis.ping();
    // This proxy simulates a Redis Cluster with one master down. Script calls
    // with keys of the failing consumer fail, and the others reach Redis.
    const partlyFailing = new Proxy(redis, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (property !== 'portcullisConsume' || typeof value !== 'function') {
          return value;
        }
        return async (...args: unknown[]) => {
          if (args.some((arg) => typeof arg === 'string' && arg.includes('unreachable'))) {
            throw new Error('Connection is closed.');
          }
          return (value as (...values: unknown[]) => Promise<unknown>).apply(target, args);
        };
      },
    });
    limiter = new RateLimiter(new RedisRateLimitStore(partlyFailing), { timeoutMs: 1000, warnIntervalMs: 60_000, onStoreFailure: () => {} });
  });

  afterAll(() => {
    redis?.disconnect();
  });

  it('refunds consumers of a refused request', async () => {
    const quota = check(`sub=${randomUUID()}|orders`, 2, 3_600_000);
    const address = check(`ip=unreachable-${randomUUID()}|global`, 100, 60_000);

    const refused = await Promise.all([limiter.consume([quota, address]), limiter.consume([quota, address])]);
    expect(refused.map((decision) => decision.allowed)).toEqual([false, false]);
    expect(refused.every((decision) => decision.storeFailure !== undefined)).toBe(true);

    // The charges of the reachable consumer come back after the refusal.
    await repliesReceived(redis);
    const later = await Promise.all([limiter.consume([quota]), limiter.consume([quota]), limiter.consume([quota])]);
    expect(later.map((decision) => decision.allowed)).toEqual([true, true, false]);
  });
});
