import { decide } from './gcra.js';
import type { FailureCount, LimitCheck, LimitResult, RateLimitDecision, RateLimitStore } from './types.js';

interface Entry {
  /** TAT for rate counters, failure count for failure counters. */
  value: number;
  /** Epoch milliseconds after which the entry is void. */
  expiresAt: number;
}

/**
 * Counters of one kind, bounded to `maxKeys` entries and kept in
 * least-recently-used order: writing a key moves it to the end.
 *
 * A full map first drops expired entries, because an expired counter
 * decides like a missing one, so dropping it changes no decision. Only
 * when expired entries are too few does it evict the least recently used
 * entry, which still has state. A flood of keys that each expire soon,
 * such as one request from each of many addresses, therefore cannot evict
 * a used-up quota.
 */
class BoundedEntries {
  readonly #entries = new Map<string, Entry>();
  readonly #maxKeys: number;
  /** Entries freed by a sweep of expired entries below which the map evicts by age instead. */
  readonly #minSweepYield: number;
  /** New keys that evict the least recently used entry without a sweep, after a sweep freed too little. */
  #evictionsBeforeSweep = 0;

  constructor(maxKeys: number) {
    this.#maxKeys = maxKeys;
    this.#minSweepYield = Math.max(1, Math.floor(maxKeys / 8));
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): Entry | undefined {
    return this.#entries.get(key);
  }

  /** Returns the value of `key`, or undefined when it is missing or expired at `now`. */
  read(key: string, now: number): number | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) {
      return undefined;
    }

    if (entry.expiresAt <= now) {
      this.#entries.delete(key);
      return undefined;
    }

    return entry.value;
  }

  write(key: string, value: number, expiresAt: number, now: number): void {
    this.#entries.delete(key);
    this.#entries.set(key, { value, expiresAt });

    if (this.#entries.size > this.#maxKeys) {
      this.#makeRoom(now);
    }
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }

  /**
   * Drops expired entries, or else the least recently used one. A sweep
   * reads every entry, so after a sweep that frees fewer than
   * `#minSweepYield` entries the next `#minSweepYield` new keys evict by
   * age alone. Each new key then costs at most about 8 entry reads on average.
   */
  #makeRoom(now: number): void {
    if (this.#evictionsBeforeSweep === 0) {
      const before = this.#entries.size;
      for (const [key, entry] of this.#entries) {
        if (entry.expiresAt <= now) {
          this.#entries.delete(key);
        }
      }
      if (before - this.#entries.size < this.#minSweepYield) {
        this.#evictionsBeforeSweep = this.#minSweepYield;
      }
    }

    if (this.#entries.size > this.#maxKeys) {
      this.#evictionsBeforeSweep = Math.max(0, this.#evictionsBeforeSweep - 1);
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) {
        this.#entries.delete(oldest);
      }
    }
  }
}

/**
 * Rate-limit counters in this process's memory.
 *
 * Each kind of counter contains at most `maxKeys` entries, and a full map
 * drops expired entries before it evicts live ones by age (see
 * {@link BoundedEntries}). Expiry is checked on read and on a full map, so
 * there are no timers. Failure counters have a map of their own, so that
 * requests from many addresses, which each add a rate counter, cannot evict
 * the failed sign-ins of an account and reset its throttle.
 *
 * NOTE: when more than about 7/8 of `maxKeys` counters of one kind are
 * live at once, such as failed sign-ins for that many usernames, client ids
 * or addresses, new keys evict the least recently used live counters, which
 * resets them. The sign-in limit and the per-address failure thresholds
 * slow such a flood.
 */
export class MemoryRateLimitStore implements RateLimitStore {
  readonly #entries: BoundedEntries;
  readonly #failureEntries: BoundedEntries;
  readonly #now: () => number;

  constructor(maxKeys: number, now: () => number = Date.now) {
    this.#entries = new BoundedEntries(maxKeys);
    this.#failureEntries = new BoundedEntries(maxKeys);
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
    const decisions = checks.map((check) => ({ check, decision: decide(check.rate, this.#entries.read(check.key, now), now) }));
    const allowed = decisions.every(({ decision }) => decision.allowed);

    if (allowed) {
      for (const { check, decision } of decisions) {
        this.#entries.write(check.key, decision.tat, decision.tat, now);
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
    const count = (this.#failureEntries.read(key, now) ?? 0) + 1;
    this.#failureEntries.write(key, count, now + windowMs, now);
    return count;
  }

  async failures(key: string, windowMs: number): Promise<FailureCount> {
    const now = this.#now();
    const count = this.#failureEntries.read(key, now) ?? 0;
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
}
