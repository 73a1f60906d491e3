import { decide } from './gcra.js';
import type { FailureCount, LimitCheck, LimitResult, RateLimitDecision, RateLimitStore } from './types.js';

interface Entry {
  /** TAT for rate counters, failure count for failure counters. */
  value: number;
  /** Epoch milliseconds after which the entry is void. */
  expiresAt: number;
}

/**
 * Rate-limit counters in this process's memory.
 *
 * Maps kept in least-recently-used order contain at most `maxKeys` entries
 * each: touching a key moves it to the end, and the first entry is evicted
 * when the map is full. Expiry is checked on read, so there are no timers.
 * Failure counters have a map of their own, so that requests from many
 * addresses, which each add a rate counter, cannot evict the failed
 * sign-ins of an account and reset its throttle.
 *
 * NOTE: failed sign-ins and client authentications for more than `maxKeys`
 * usernames, client ids or addresses still evict each other. The sign-in
 * limit and the per-address failure thresholds slow such a flood.
 */
export class MemoryRateLimitStore implements RateLimitStore {
  readonly #entries = new Map<string, Entry>();
  readonly #failureEntries = new Map<string, Entry>();
  readonly #maxKeys: number;
  readonly #now: () => number;

  constructor(maxKeys: number, now: () => number = Date.now) {
    this.#maxKeys = maxKeys;
    this.#now = now;
  }

  /** The number of rate counters. */
  get size(): number {
    return this.#entries.size;
  }

  async consume(checks: readonly LimitCheck[]): Promise<RateLimitDecision> {
    return this.consumeSync(checks);
  }

  /** Decides synchronously: JavaScript runs it to the end, so it is atomic. */
  consumeSync(checks: readonly LimitCheck[]): RateLimitDecision {
    const now = this.#now();
    const decisions = checks.map((check) => ({ check, decision: decide(check.rate, this.#read(this.#entries, check.key, now), now) }));
    const allowed = decisions.every(({ decision }) => decision.allowed);

    if (allowed) {
      for (const { check, decision } of decisions) {
        this.#write(this.#entries, check.key, decision.tat, decision.tat);
      }
    }

    const results: LimitResult[] = decisions.map(({ check, decision }) => ({
      check,
      allowed: decision.allowed,
      remaining: decision.remaining,
      retryAfterMs: decision.retryAfterMs,
      resetAfterMs: decision.resetAfterMs,
    }));
    return { allowed, results };
  }

  async recordFailure(key: string, windowMs: number): Promise<number> {
    const now = this.#now();
    const count = (this.#read(this.#failureEntries, key, now) ?? 0) + 1;
    this.#write(this.#failureEntries, key, count, now + windowMs);
    return count;
  }

  async failures(key: string, windowMs: number): Promise<FailureCount> {
    const now = this.#now();
    const count = this.#read(this.#failureEntries, key, now) ?? 0;
    const expiresAt = this.#failureEntries.get(key)?.expiresAt ?? now;
    return { count, lastFailureAgoMs: Math.max(0, now - (expiresAt - windowMs)) };
  }

  async resetFailures(key: string): Promise<void> {
    this.#failureEntries.delete(key);
  }

  async close(): Promise<void> {
    this.#entries.clear();
    this.#failureEntries.clear();
  }

  #read(entries: Map<string, Entry>, key: string, now: number): number | undefined {
    const entry = entries.get(key);
    if (entry === undefined) {
      return undefined;
    }

    if (entry.expiresAt <= now) {
      entries.delete(key);
      return undefined;
    }

    return entry.value;
  }

  #write(entries: Map<string, Entry>, key: string, value: number, expiresAt: number): void {
    entries.delete(key);
    entries.set(key, { value, expiresAt });

    if (entries.size > this.#maxKeys) {
      const oldest = entries.keys().next().value;
      if (oldest !== undefined) {
        entries.delete(oldest);
      }
    }
  }
}
