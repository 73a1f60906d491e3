import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ActiveCache } from '../../src/backends/active-cache.js';
import { connectRedis, type RedisClient } from '../../src/backends/redis.js';
import { RevocationBus } from '../../src/backends/revocation-bus.js';
import { createLogger } from '../../src/http/logger.js';
import { REDIS_URL } from '../support/config-file.js';

/** Creates a cache on a clock the test moves by hand, and a counter of database look-ups. */
function cacheOnManualClock() {
  const clock = { now: 1_000_000 };
  const cache = new ActiveCache({ ttlMs: 1000, maxEntries: 2, now: () => clock.now });
  const lookups = { count: 0 };
  const check = (id: string, active = true) =>
    cache.isActive('grant', id, async () => {
      lookups.count += 1;
      return active;
    });
  return { clock, cache, lookups, check };
}

describe('active cache', () => {
  it('remembers an active grant for its lifetime', async () => {
    const { clock, lookups, check } = cacheOnManualClock();

    expect(await check('g')).toBe(true);
    clock.now += 999;
    expect(await check('g')).toBe(true);
    expect(lookups.count).toBe(1);

    clock.now += 1;
    expect(await check('g')).toBe(true);
    expect(lookups.count).toBe(2);
  });

  it('never remembers an inactive grant', async () => {
    const { lookups, check } = cacheOnManualClock();

    expect(await check('gone', false)).toBe(false);
    expect(await check('gone', false)).toBe(false);
    expect(lookups.count).toBe(2);
  });

  it('asks again after invalidation', async () => {
    const { cache, lookups, check } = cacheOnManualClock();

    await check('g');
    cache.invalidate('grant', 'g');
    expect(await check('g', false)).toBe(false);
    expect(lookups.count).toBe(2);
  });

  it('evicts the oldest entry when full', async () => {
    const { lookups, check } = cacheOnManualClock();

    await check('a');
    await check('b');
    await check('c');
    await check('a');
    expect(lookups.count).toBe(4);
  });
});

describe('revocation broadcast', () => {
  const logger = createLogger('silent');
  let publisherRedis: RedisClient;
  let subscriberRedis: RedisClient;
  let buses: RevocationBus[] = [];

  beforeAll(async () => {
    publisherRedis = await connectRedis(REDIS_URL);
    subscriberRedis = await connectRedis(REDIS_URL);
  });

  afterAll(() => {
    for (const bus of buses) {
      bus.close();
    }
    publisherRedis?.disconnect();
    subscriberRedis?.disconnect();
  });

  it('clears the entry on another instance at once', async () => {
    const publisher = new RevocationBus(new ActiveCache({ ttlMs: 1000, maxEntries: 10 }), publisherRedis, logger);
    // The clock of the receiving cache does not move, so only the broadcast can clear its entry.
    const receiving = cacheOnManualClock();
    const subscriber = new RevocationBus(receiving.cache, subscriberRedis, logger);
    buses = [publisher, subscriber];
    await subscriber.start();

    const grantId = randomUUID();
    await receiving.check(grantId);
    expect(receiving.lookups.count).toBe(1);

    await publisher.publish('grant', grantId);
    const deadline = Date.now() + 1000;
    let active = true;
    while (active && Date.now() < deadline) {
      // A cache hit resolves without I/O, so yield to let the message arrive.
      await new Promise((resolve) => setTimeout(resolve, 10));
      active = await receiving.check(grantId, false);
    }
    expect(active).toBe(false);
  });
});
