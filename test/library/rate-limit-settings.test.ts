import { describe, expect, it } from 'vitest';

import { createRateLimiter, type RateLimiterSettings } from '../../src/library/rate-limit.js';
import { RequestGuard, type GuardSettings } from '../../src/library/request-guard.js';

const CREDENTIALS = { identityAssertions: { issuer: 'https://id.example.com', audience: 'https://id.example.com/api', jwks: { keys: [] } } };
const PER_ADDRESS = { name: 'per-address', key: ['ip'], limit: 5, period: '1s', onStoreFailure: 'open' };

function guardWith(rateLimit: Record<string, unknown>): () => RequestGuard {
  return () => new RequestGuard({ ...CREDENTIALS, rateLimit } as unknown as GuardSettings);
}

describe('library rate limit settings', () => {
  // Each of these started, and then every request got 500.
  it.each([
    ['rateLimit.limiter must be a rate limiter from createRateLimiter()', { limits: [PER_ADDRESS] }],
    ['rateLimit.limiter must be a rate limiter from createRateLimiter()', { limiter: {}, limits: [PER_ADDRESS] }],
    ['rateLimit.limits must be a list of rate limits', { limiter: createRateLimiter() }],
    ['rateLimit.limits must be a list of rate limits', { limiter: createRateLimiter(), limits: PER_ADDRESS }],
  ])('rejects %s', (message, rateLimit) => {
    expect(guardWith(rateLimit)).toThrow(RangeError);
    expect(guardWith(rateLimit)).toThrow(message);
  });

  // A misspelt failure mode made the limit fail closed without a word.
  it.each(['Open', 'fail-open', undefined])('rejects onStoreFailure %j', (onStoreFailure) => {
    const rateLimit = { limiter: createRateLimiter(), limits: [{ ...PER_ADDRESS, onStoreFailure }] };
    expect(guardWith(rateLimit)).toThrow(RangeError);
    expect(guardWith(rateLimit)).toThrow(`Invalid rate limit 'per-address': onStoreFailure must be 'open' or 'closed', got ${JSON.stringify(onStoreFailure) ?? 'undefined'}.`);
  });

  it.each([31, 129, 64.5, '64'])('rejects ipv6PrefixLength %j', (ipv6PrefixLength) => {
    const rateLimit = { limiter: createRateLimiter(), limits: [PER_ADDRESS], ipv6PrefixLength };
    expect(guardWith(rateLimit)).toThrow(RangeError);
    expect(guardWith(rateLimit)).toThrow('rateLimit.ipv6PrefixLength must be a whole number from 32 to 128');
  });

  // A timeout of 0 or less gave Redis no time to reply, so its decisions went to the failure mode.
  it.each([0, -1, 1.5, '200', 60_001])('rejects the limiter timeoutMs %j', (timeoutMs) => {
    const settings = { timeoutMs } as unknown as RateLimiterSettings;
    expect(() => createRateLimiter(settings)).toThrow(RangeError);
    expect(() => createRateLimiter(settings)).toThrow('timeoutMs must be a whole number of milliseconds from 1 to 60000');
  });

  it('rejects a store without consume', () => {
    const settings = { store: {} } as unknown as RateLimiterSettings;
    expect(() => createRateLimiter(settings)).toThrow('store must be a rate limit store such as new RedisRateLimitStore(redis)');
  });

  it('accepts valid settings', () => {
    const rateLimit = { limiter: createRateLimiter(), limits: [PER_ADDRESS, { ...PER_ADDRESS, name: 'strict', onStoreFailure: 'closed' }], ipv6PrefixLength: 128 };
    expect(guardWith(rateLimit)).not.toThrow();
  });
});
