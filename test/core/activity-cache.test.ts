import { describe, expect, it } from 'vitest';

import { ActivityCache } from '../../src/core/cache/activity-cache.js';

/** Creates a grant store whose results and read count the test controls. */
function grantStore(): { check: (id: string) => Promise<boolean>; revoked: Set<string>; reads: () => number; failNext: () => void } {
  const revoked = new Set<string>();
  let reads = 0;
  let fail = false;
  return {
    revoked,
    reads: () => reads,
    failNext: () => {
      fail = true;
    },
    check: async (id) => {
      reads += 1;
      if (fail) {
        fail = false;
        throw new Error('database is locked');
      }
      return !revoked.has(id);
    },
  };
}

describe('activity cache', () => {
  it('reuses an answer within the TTL', async () => {
    const store = grantStore();
    const cache = new ActivityCache(store.check, { ttlMs: 1000, maxEntries: 10, now: () => 0 });

    expect(await cache.isActive('grant')).toBe(true);
    expect(await cache.isActive('grant')).toBe(true);
    expect(store.reads()).toBe(1);
  });

  it('returns a fresh hit synchronously', async () => {
    const store = grantStore();
    const cache = new ActivityCache(store.check, { ttlMs: 1000, maxEntries: 10, now: () => 0 });

    const read = cache.isActive('grant');
    expect(read).toBeInstanceOf(Promise);
    await read;

    expect(cache.isActive('grant')).toBe(true);
    expect(store.reads()).toBe(1);
  });

  it('sees a revocation once the TTL passes', async () => {
    const store = grantStore();
    let now = 0;
    const cache = new ActivityCache(store.check, { ttlMs: 1000, maxEntries: 10, now: () => now });
    expect(await cache.isActive('grant')).toBe(true);

    store.revoked.add('grant');
    now = 999;
    expect(await cache.isActive('grant')).toBe(true);

    now = 1000;
    expect(await cache.isActive('grant')).toBe(false);
    expect(store.reads()).toBe(2);
  });

  it('sees a forgotten revocation at once', async () => {
    const store = grantStore();
    const cache = new ActivityCache(store.check, { ttlMs: 1000, maxEntries: 10, now: () => 0 });
    expect(await cache.isActive('grant')).toBe(true);

    store.revoked.add('grant');
    cache.forget('grant');

    expect(await cache.isActive('grant')).toBe(false);
  });

  it('shares one read between concurrent checks', async () => {
    const store = grantStore();
    const cache = new ActivityCache(store.check, { ttlMs: 1000, maxEntries: 10, now: () => 0 });

    const answers = await Promise.all([cache.isActive('grant'), cache.isActive('grant'), cache.isActive('grant')]);

    expect(answers).toEqual([true, true, true]);
    expect(store.reads()).toBe(1);
  });

  it('does not keep a failed read', async () => {
    const store = grantStore();
    const cache = new ActivityCache(store.check, { ttlMs: 1000, maxEntries: 10, now: () => 0 });
    store.failNext();

    await expect(cache.isActive('grant')).rejects.toThrow('database is locked');
    expect(await cache.isActive('grant')).toBe(true);
    expect(store.reads()).toBe(2);
  });

  it('keeps at most maxEntries ids', async () => {
    const store = grantStore();
    const cache = new ActivityCache(store.check, { ttlMs: 1000, maxEntries: 2, now: () => 0 });

    for (const id of ['a', 'b', 'c']) {
      await cache.isActive(id);
    }

    expect(cache.size).toBe(2);
    await cache.isActive('a');
    expect(store.reads()).toBe(4);
  });
});
