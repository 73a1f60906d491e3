import { describe, expect, it } from 'vitest';

import { clientAddressKey } from '../../src/core/client-address.js';
import { decide, type Rate } from '../../src/core/rate-limit/gcra.js';
import { rateLimitHeaders, retryAfterSeconds } from '../../src/core/rate-limit/headers.js';
import { LoginThrottle, type LoginThrottleOptions } from '../../src/core/rate-limit/login-throttle.js';
import { MemoryRateLimitStore } from '../../src/core/rate-limit/memory-store.js';
import type { LimitCheck } from '../../src/core/rate-limit/types.js';

const tenPerSecond: Rate = { limit: 10, periodMs: 1000, burst: 10 };

function check(key: string, rate: Rate = tenPerSecond, policy = 'test'): LimitCheck {
  return { policy, kind: 'rate', subject: 'client address', key, rate, onStoreFailure: 'open' };
}

describe('GCRA', () => {
  it('admits the burst at once, then the rate', () => {
    let tat: number | undefined;
    let admitted = 0;
    for (let i = 0; i < 15; i += 1) {
      const decision = decide(tenPerSecond, tat, 0);
      if (decision.allowed) {
        admitted += 1;
        tat = decision.tat;
      }
    }
    expect(admitted).toBe(10);

    const later = decide(tenPerSecond, tat, 100);
    expect(later.allowed).toBe(true);
    expect(decide(tenPerSecond, later.tat, 100).allowed).toBe(false);
  });

  it('admits whole bursts of fractional intervals', () => {
    const now = Date.parse('2026-12-05T12:00:00Z');
    for (const periodMs of [1000, 60_000, 3_600_000, 86_400_000]) {
      for (let limit = 1; limit <= 300; limit += 1) {
        const rate: Rate = { limit, periodMs, burst: limit };
        let tat: number | undefined;
        let admitted = 0;
        for (let i = 0; i < limit + 2; i += 1) {
          const decision = decide(rate, tat, now);
          if (decision.allowed) {
            admitted += 1;
            tat = decision.tat;
            expect(decision.remaining, `${limit} per ${periodMs} ms, request ${i + 1}`).toBe(limit - admitted);
          }
        }
        expect(admitted, `${limit} per ${periodMs} ms`).toBe(limit);
      }
    }
  });

  it('keeps the sustained rate at most the limit', () => {
    const rate: Rate = { limit: 3, periodMs: 1000, burst: 1 };
    let tat: number | undefined;
    let admitted = 0;
    for (let now = 0; now < 60_000; now += 1) {
      const decision = decide(rate, tat, now);
      if (decision.allowed) {
        admitted += 1;
        tat = decision.tat;
      }
    }
    expect(admitted).toBe(180);
  });

  it('reports remaining and retry time', () => {
    const first = decide(tenPerSecond, undefined, 0);
    expect(first.remaining).toBe(9);
    expect(first.resetAfterMs).toBe(100);

    let tat = first.tat;
    for (let i = 0; i < 9; i += 1) {
      tat = decide(tenPerSecond, tat, 0).tat;
    }
    const denied = decide(tenPerSecond, tat, 0);
    expect(denied.allowed).toBe(false);
    expect(denied.retryAfterMs).toBe(100);
    expect(denied.remaining).toBe(0);
  });

  it('never admits more than rate plus burst across a boundary', () => {
    const rate: Rate = { limit: 100, periodMs: 60_000, burst: 100 };
    let tat: number | undefined;
    let admitted = 0;

    // Hammer the last second of one minute and the first second of the next.
    for (let now = 59_000; now <= 61_000; now += 10) {
      for (let attempt = 0; attempt < 5; attempt += 1) {
        const decision = decide(rate, tat, now);
        if (decision.allowed) {
          admitted += 1;
          tat = decision.tat;
        }
      }
    }

    // 100 at once, then one per 600 ms for the 2 seconds: 3 more at most.
    expect(admitted).toBeLessThanOrEqual(100 + Math.ceil(2000 / 600));
    expect(admitted).toBeGreaterThanOrEqual(100);
  });
});

describe('memory store', () => {
  const THROTTLE_OPTIONS: LoginThrottleOptions = {
    accountThreshold: 5,
    accountTotalThreshold: 50,
    addressThreshold: 20,
    windowMs: 900_000,
    baseDelayMs: 1000,
    maxDelayMs: 900_000,
  };

  it('charges only when every check allows', async () => {
    const store = new MemoryRateLimitStore(1000, () => 0);
    const tight = check('tight', { limit: 1, periodMs: 1000, burst: 1 });
    const loose = check('loose');

    expect((await store.consume([tight, loose])).allowed).toBe(true);
    const denied = await store.consume([tight, loose]);
    expect(denied.allowed).toBe(false);
    expect(denied.results.map((result) => result.allowed)).toEqual([false, true]);

    // The denied request did not use up the loose counter.
    const looseOnly = await store.consume([loose]);
    expect(looseOnly.results[0]?.remaining).toBe(8);
  });

  it('evicts the least recently used key', async () => {
    const store = new MemoryRateLimitStore(100, () => 0);
    for (let i = 0; i < 100; i += 1) {
      await store.consume([check(`key-${i}`)]);
    }
    await store.consume([check('key-0')]);
    await store.consume([check('key-new')]);

    expect(store.size).toBe(100);
    expect((await store.consume([check('key-0')])).results[0]?.remaining).toBe(7);
    expect((await store.consume([check('key-1')])).results[0]?.remaining).toBe(9);
  });

  it('keeps a used-up quota through a flood', async () => {
    let now = 0;
    const store = new MemoryRateLimitStore(100, () => now);
    const quota = check('sub=victim|orders:POST /orders', { limit: 2, periodMs: 3_600_000, burst: 2 });
    expect((await store.consume([quota])).allowed).toBe(true);
    expect((await store.consume([quota])).allowed).toBe(true);
    expect((await store.consume([quota])).allowed).toBe(false);

    // One request from each of 1000 IPv6 networks, 10 ms apart. Each
    // counter is full again 100 ms after its request, like a new one.
    for (let i = 0; i < 1000; i += 1) {
      now += 10;
      await store.consume([check(`ip=2001:db8:${i.toString(16)}::/64|global:all`)]);
    }

    expect(store.size).toBeLessThanOrEqual(100);
    expect((await store.consume([quota])).allowed).toBe(false);
  });

  it('keeps failure counters through a flood of expired keys', async () => {
    let now = 0;
    const store = new MemoryRateLimitStore(100, () => now);
    for (let i = 0; i < 3; i += 1) {
      await store.recordFailure('account=victim', 900_000);
    }

    for (let i = 0; i < 1000; i += 1) {
      now += 1;
      await store.recordFailure(`address=2001:db8:${i.toString(16)}::/64`, 10);
    }

    expect((await store.failures('account=victim', 900_000)).count).toBe(3);
  });

  it('keeps failure counters through a flood of rate keys', async () => {
    const store = new MemoryRateLimitStore(100, () => 0);
    const throttle = new LoginThrottle(store, THROTTLE_OPTIONS);
    for (let i = 0; i < 5; i += 1) {
      expect((await throttle.begin('victim', '192.0.2.1')).allowed).toBe(true);
    }
    expect((await throttle.begin('victim', '192.0.2.1')).allowed).toBe(false);

    // Requests from 200 IPv6 networks, each with a counter of its own.
    for (let i = 0; i < 200; i += 1) {
      await store.consume([check(`ip=2001:db8:${i.toString(16)}::/64|global:all`)]);
    }

    expect((await throttle.begin('victim', '192.0.2.1')).allowed).toBe(false);
  });

  it('keeps a crafted username off another counter', async () => {
    const store = new MemoryRateLimitStore(1000, () => 0);
    const throttle = new LoginThrottle(store, THROTTLE_OPTIONS);

    // The username names the victim's counter for the victim's own address.
    for (let i = 0; i < 10; i += 1) {
      await throttle.begin('victim&address:192.0.2.1', `198.51.100.${i}`);
    }

    expect(await throttle.begin('victim', '192.0.2.1')).toMatchObject({ allowed: true });
  });

  it('fails an attempt on a store that stalls', async () => {
    const store = new MemoryRateLimitStore(100, () => 0);
    store.failures = () => new Promise(() => {});
    const throttle = new LoginThrottle(store, { ...THROTTLE_OPTIONS, storeTimeoutMs: 50 });

    await expect(throttle.begin('victim', '192.0.2.1')).rejects.toThrow('login throttle store did not respond within 50 ms');
  });

  it('fails a success on a store that stalls', async () => {
    const store = new MemoryRateLimitStore(100, () => 0);
    store.resetFailures = () => new Promise(() => {});
    const throttle = new LoginThrottle(store, { ...THROTTLE_OPTIONS, storeTimeoutMs: 50 });

    await expect(throttle.succeeded('victim', { address: '192.0.2.1', period: 0 })).rejects.toThrow('login throttle store did not respond within 50 ms');
  });

  it('expires failure counters', async () => {
    let now = 0;
    const store = new MemoryRateLimitStore(100, () => now);
    await store.recordFailure('user', 1000);
    await store.recordFailure('user', 1000);
    now = 400;
    expect(await store.failures('user', 1000)).toEqual({ count: 2, lastFailureAgoMs: 400 });
    now = 1001;
    expect((await store.failures('user', 1000)).count).toBe(0);
  });
});

describe('client address key', () => {
  it('drops the port of a forwarded address', () => {
    expect(clientAddressKey('192.0.2.1:5678', 64)).toBe('192.0.2.1');
    expect(clientAddressKey('192.0.2.1:5679', 64)).toBe('192.0.2.1');
    expect(clientAddressKey('[2001:db8::1]:443', 64)).toBe('2001:db8::/64');
    expect(clientAddressKey('[::ffff:192.0.2.1]:443', 64)).toBe('192.0.2.1');
    expect(clientAddressKey('host.example:80', 64)).toBe('unknown:host.example:80');
  });

  it('groups bracketed IPv6 addresses by prefix', () => {
    expect(clientAddressKey('[2001:db8::1]', 64)).toBe('2001:db8::/64');
    expect(clientAddressKey('[2001:db8::ffff:2]', 64)).toBe('2001:db8::/64');
    expect(clientAddressKey('[::ffff:192.0.2.1]', 64)).toBe('192.0.2.1');
    expect(clientAddressKey('[192.0.2.1]', 64)).toBe('192.0.2.1');
  });

  it('groups IPv6 addresses by prefix', () => {
    expect(clientAddressKey('2001:db8::1', 64)).toBe('2001:db8::/64');
    expect(clientAddressKey('2001:db8::ffff:1', 64)).toBe('2001:db8::/64');
    expect(clientAddressKey('2001:db8:0:1::1', 64)).toBe('2001:db8:0:1::/64');
    expect(clientAddressKey('2001:db8:0:1::1', 48)).toBe('2001:db8::/48');
  });

  it('keeps IPv4 and unwraps mapped addresses', () => {
    expect(clientAddressKey('192.0.2.7', 64)).toBe('192.0.2.7');
    expect(clientAddressKey('::ffff:192.0.2.7', 64)).toBe('192.0.2.7');
  });

  it('keys a repeated address by each prefix length', () => {
    expect(clientAddressKey('2001:db8:0:1::1', 64)).toBe('2001:db8:0:1::/64');
    expect(clientAddressKey('2001:db8:0:1::1', 48)).toBe('2001:db8::/48');
    expect(clientAddressKey('2001:db8:0:1::1', 64)).toBe('2001:db8:0:1::/64');
  });

  it('keys addresses correctly past the kept ones', () => {
    for (let index = 0; index < 10_050; index += 1) {
      const address = `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`;
      expect(clientAddressKey(address, 56)).toBe(address);
    }
    expect(clientAddressKey('2001:db8:0:1::1', 56)).toBe('2001:db8::/56');
  });
});

describe('RateLimit header fields', () => {
  it.each([
    [5, 500, 'q=10;w=1'],
    [3, 1500, 'q=6;w=3'],
    [1, 250, 'q=4;w=1'],
    [7, 2000, 'q=7;w=2'],
    [2, 333, 'q=2000;w=333'],
  ])('states %i per %i ms in whole seconds', async (limit, periodMs, expected) => {
    const store = new MemoryRateLimitStore(10, () => 0);
    const decision = await store.consume([check('odd', { limit, periodMs, burst: limit }, 'odd')]);
    expect(rateLimitHeaders(decision.results)['ratelimit-policy']).toBe(`"odd";${expected}`);
  });

  it.each([
    [50, 1000, 100, 'q=100;w=2', 99],
    [5, 3_600_000, 12, 'q=15;w=10800', 11],
    [10, 1000, 4, 'q=10;w=1', 3],
  ])('keeps %i per %i ms with burst %i within q', async (limit, periodMs, burst, expected, remaining) => {
    const store = new MemoryRateLimitStore(10, () => 0);
    const decision = await store.consume([check('burst', { limit, periodMs, burst }, 'burst')]);
    const headers = rateLimitHeaders(decision.results);

    expect(headers['ratelimit-policy']).toBe(`"burst";${expected}`);
    expect(decision.results[0]?.remaining).toBe(remaining);
    expect(headers['ratelimit']).toContain(`r=${remaining};`);
  });

  it('lists every policy', async () => {
    const store = new MemoryRateLimitStore(10, () => 0);
    const decision = await store.consume([check('a', tenPerSecond, 'per-second'), check('b', { limit: 5, periodMs: 3_600_000, burst: 5 }, 'hourly')]);
    expect(rateLimitHeaders(decision.results)).toEqual({
      'ratelimit-policy': '"per-second";q=10;w=1, "hourly";q=5;w=3600',
      ratelimit: '"per-second";r=9;t=1, "hourly";r=4;t=720',
    });
  });

  it('names the policy of a shared rate', async () => {
    const store = new MemoryRateLimitStore(10, () => 0);
    const first = await store.consume([check('a', tenPerSecond, 'first')]);
    const second = await store.consume([check('b', tenPerSecond, 'second')]);

    expect(rateLimitHeaders(first.results)['ratelimit-policy']).toBe('"first";q=10;w=1');
    expect(rateLimitHeaders(second.results)['ratelimit-policy']).toBe('"second";q=10;w=1');
  });

  it('rounds Retry-After up', () => {
    expect(retryAfterSeconds([{ check: check('a'), allowed: false, remaining: 0, retryAfterMs: 1200, resetAfterMs: 0 }])).toBe(2);
    expect(retryAfterSeconds([])).toBe(1);
  });
});
