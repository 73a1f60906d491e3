import { describe, expect, it } from 'vitest';

import { ClientAuthThrottle, type ClientAuthThrottleOptions } from '../../src/core/rate-limit/client-auth-throttle.js';
import { MemoryRateLimitStore } from '../../src/core/rate-limit/memory-store.js';

const OPTIONS: ClientAuthThrottleOptions = {
  clientThreshold: 3,
  clientTotalThreshold: 6,
  addressThreshold: 100,
  windowMs: 900_000,
  baseDelayMs: 30_000,
  maxDelayMs: 900_000,
};

/** Runs one attempt with a wrong secret the way the endpoints do, and returns whether the throttle allowed it. */
async function failOnce(throttle: ClientAuthThrottle, clientId: string, address: string): Promise<boolean> {
  const verdict = await throttle.begin(clientId, address);
  if (verdict.allowed) {
    await throttle.failed(clientId, address);
  }
  return verdict.allowed;
}

describe('client authentication throttle', () => {
  it('admits at most the threshold from parallel attempts', async () => {
    const throttle = new ClientAuthThrottle(new MemoryRateLimitStore(1000), OPTIONS);

    const verdicts = await Promise.all(Array.from({ length: 40 }, () => throttle.begin('service', '192.0.2.1')));

    const allowed = verdicts.filter((verdict) => verdict.allowed).length;
    expect(allowed).toBeLessThanOrEqual(OPTIONS.clientThreshold);
    // A throttle that rejected every parallel attempt would also pass the bound above.
    expect(allowed).toBeGreaterThanOrEqual(1);
  });

  it('keeps client ids with key separators apart', async () => {
    const throttle = new ClientAuthThrottle(new MemoryRateLimitStore(1000), OPTIONS);

    for (let attempt = 0; attempt < 10; attempt += 1) {
      await failOnce(throttle, 'service&address:192.0.2.1', '198.51.100.9');
    }

    expect(await throttle.begin('service', '192.0.2.1')).toEqual({ allowed: true });
  });

  it('applies the client-wide count only after a failure', async () => {
    const throttle = new ClientAuthThrottle(new MemoryRateLimitStore(1000), OPTIONS);
    for (const address of ['192.0.2.1', '192.0.2.2', '192.0.2.3']) {
      await failOnce(throttle, 'service', address);
      await failOnce(throttle, 'service', address);
    }

    const clean = await throttle.begin('service', '192.0.2.4');
    expect(clean).toEqual({ allowed: true });
    await throttle.succeeded('service', '192.0.2.4');

    const failedBefore = await throttle.begin('service', '192.0.2.1');
    expect(failedBefore.allowed).toBe(false);
  });

  it('ignores the client-wide count for attempts in flight', async () => {
    const throttle = new ClientAuthThrottle(new MemoryRateLimitStore(1000), OPTIONS);
    for (const address of ['192.0.2.1', '192.0.2.2', '192.0.2.3']) {
      await failOnce(throttle, 'service', address);
      await failOnce(throttle, 'service', address);
    }

    // The first attempt has not finished when the second begins, as with two requests of one service in parallel.
    expect(await throttle.begin('service', '192.0.2.4')).toEqual({ allowed: true });
    expect(await throttle.begin('service', '192.0.2.4')).toEqual({ allowed: true });
    await throttle.succeeded('service', '192.0.2.4');
    await throttle.succeeded('service', '192.0.2.4');

    expect(await throttle.begin('service', '192.0.2.4')).toEqual({ allowed: true });
  });

  it('applies the address count only after a failure', async () => {
    const throttle = new ClientAuthThrottle(new MemoryRateLimitStore(1000), { ...OPTIONS, addressThreshold: 4 });
    for (let index = 0; index < 4; index += 1) {
      expect(await failOnce(throttle, `guess-${index}`, '192.0.2.1')).toBe(true);
    }

    expect((await throttle.begin(undefined, '192.0.2.1')).allowed).toBe(false);
    expect((await throttle.begin('guess-0', '192.0.2.1')).allowed).toBe(false);
    expect(await throttle.begin('service', '192.0.2.1')).toEqual({ allowed: true });
  });

  it('clears the per-address count on success', async () => {
    const throttle = new ClientAuthThrottle(new MemoryRateLimitStore(1000), OPTIONS);
    for (let attempt = 0; attempt < OPTIONS.clientThreshold; attempt += 1) {
      expect(await failOnce(throttle, 'service', '192.0.2.1')).toBe(true);
    }
    expect((await throttle.begin('service', '192.0.2.1')).allowed).toBe(false);

    await throttle.succeeded('service', '192.0.2.1');

    expect(await throttle.begin('service', '192.0.2.1')).toEqual({ allowed: true });
  });
});
