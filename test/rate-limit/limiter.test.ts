import { describe, expect, it } from 'vitest';

import { RateLimiter } from '../../src/core/rate-limit/limiter.js';
import { MemoryRateLimitStore } from '../../src/core/rate-limit/memory-store.js';
import type { LimitCheck, RateLimitDecision, RateLimitStore } from '../../src/core/rate-limit/types.js';
import { chargeLimits } from '../../src/http/rate-limit.js';

function check(key: string, onStoreFailure: LimitCheck['onStoreFailure'] = 'open'): LimitCheck {
  return { policy: 'test', kind: 'rate', subject: 'client address', key, rate: { limit: 1, periodMs: 1000, burst: 1 }, onStoreFailure };
}

const quietOptions = { timeoutMs: 50, warnIntervalMs: 60_000, onStoreFailure: () => {} };

/** A store shared over the network, which returns promises and may fail. */
function remoteStore(answer: () => Promise<RateLimitDecision>): RateLimitStore {
  const memory = new MemoryRateLimitStore(100);
  return {
    consume: answer,
    recordFailure: (key, windowMs) => memory.recordFailure(key, windowMs),
    failures: (key, windowMs) => memory.failures(key, windowMs),
    resetFailures: (key) => memory.resetFailures(key),
    close: () => memory.close(),
  };
}

describe('rate limiter', () => {
  it('decides synchronously on the memory store', () => {
    const limiter = new RateLimiter(new MemoryRateLimitStore(100), quietOptions);

    const first = limiter.consume([check('ip=192.0.2.1|test:all')]);
    const second = limiter.consume([check('ip=192.0.2.1|test:all')]);

    expect(first).not.toBeInstanceOf(Promise);
    expect((first as RateLimitDecision).allowed).toBe(true);
    expect((second as RateLimitDecision).allowed).toBe(false);
  });

  it('applies failure modes when the store fails', async () => {
    const limiter = new RateLimiter(
      remoteStore(() => Promise.reject(new Error('connection refused'))),
      quietOptions,
    );

    const decision = limiter.consume([check('a', 'open'), check('b', 'closed')]);

    expect(decision).toBeInstanceOf(Promise);
    const settled = await decision;
    expect(settled.allowed).toBe(false);
    expect(settled.results.map((result) => result.allowed)).toEqual([true, false]);
    expect(settled.storeFailure?.message).toBe('connection refused');
    expect(limiter.storeFailures).toBe(1);
  });

  it('applies failure modes on a store timeout', async () => {
    const limiter = new RateLimiter(
      remoteStore(() => new Promise(() => {})),
      quietOptions,
    );

    const settled = await limiter.consume([check('a', 'open')]);

    expect(settled.allowed).toBe(true);
    expect(settled.storeFailure?.name).toBe('StoreTimeoutError');
  });

  it('counts a late store failure once', async () => {
    let fail!: (error: Error) => void;
    const limiter = new RateLimiter(
      remoteStore(() => new Promise((_resolve, reject) => (fail = reject))),
      quietOptions,
    );

    const settled = await limiter.consume([check('a', 'closed')]);
    fail(new Error('connection reset'));
    await new Promise((resolve) => setImmediate(resolve));

    expect(settled.allowed).toBe(false);
    expect(settled.storeFailure?.name).toBe('StoreTimeoutError');
    expect(limiter.storeFailures).toBe(1);
  });

  it('uses a store decision that arrives in time', async () => {
    const memory = new MemoryRateLimitStore(100);
    const limiter = new RateLimiter(
      remoteStore(() => memory.consume([check('a', 'closed')])),
      quietOptions,
    );

    const settled = await limiter.consume([check('a', 'closed')]);

    expect(settled.allowed).toBe(true);
    expect(settled.storeFailure).toBeUndefined();
    expect(limiter.storeFailures).toBe(0);
  });
});

describe('rate-limit headers without the store', () => {
  const failing = () => new RateLimiter(remoteStore(() => Promise.reject(new Error('connection refused'))), quietOptions);

  it('omits RateLimit when failing open', async () => {
    const outcome = await chargeLimits(failing(), [check('ip=192.0.2.1|test:all', 'open')]);

    expect(outcome.problem).toBeUndefined();
    expect(outcome.headers['ratelimit-policy']).toBe('"test";q=1;w=1');
    expect(outcome.headers['ratelimit']).toBeUndefined();
  });

  it('omits RateLimit when failing closed', async () => {
    const outcome = await chargeLimits(failing(), [check('ip=192.0.2.1|test:all', 'closed')]);

    expect(outcome.problem?.status).toBe(503);
    expect(outcome.problem?.headers['retry-after']).toBe('1');
    expect(outcome.headers['ratelimit']).toBeUndefined();
  });
});
