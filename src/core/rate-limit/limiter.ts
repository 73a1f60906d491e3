import type { Pending } from '../pending.js';
import { withTimeout } from '../timeout.js';
import { RepeatedFailureReports } from './failure-reports.js';
import type { LateDecision, LimitCheck, LimitResult, RateLimitDecision, RateLimitStore } from './types.js';

export interface RateLimiterOptions {
  /** Longest wait for the store before its failure mode applies, in milliseconds. */
  timeoutMs: number;
  /** Called at most once per `warnIntervalMs` while the store fails, with the count since the last warning. */
  onStoreFailure: (error: Error, failuresSinceLastWarning: number) => void;
  warnIntervalMs: number;
  now?: () => number;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

class StoreTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`rate-limit store did not respond within ${timeoutMs} ms`);
    this.name = 'StoreTimeoutError';
  }
}

/**
 * Decides requests against a store and applies each limit's failure mode
 * when the store fails or is slow: `open` lets the request through,
 * `closed` denies it. The limiter never throws for a store failure, and it
 * recovers as soon as the store answers again.
 */
export class RateLimiter {
  readonly #store: RateLimitStore;
  readonly #options: RateLimiterOptions;
  /** Built once, because it is passed on every request that waits for the store. */
  readonly #timeoutError: () => Error;
  readonly #failureReports: RepeatedFailureReports;

  /** Total store failures since start, for metrics. */
  storeFailures = 0;

  constructor(store: RateLimitStore, options: RateLimiterOptions) {
    this.#store = store;
    this.#options = options;
    this.#timeoutError = () => new StoreTimeoutError(options.timeoutMs);
    this.#failureReports = new RepeatedFailureReports(options.onStoreFailure, options.warnIntervalMs, options.now);
  }

  get store(): RateLimitStore {
    return this.#store;
  }

  /**
   * Decides the checks of one request. A store in this process cannot be
   * slow or unreachable, so it decides synchronously, without the promise
   * and timer that would cost more than the decision itself.
   */
  consume(checks: readonly LimitCheck[]): Pending<RateLimitDecision> {
    if (checks.length === 0) {
      return { allowed: true, results: [] };
    }

    try {
      if (this.#store.consumeSync !== undefined) {
        return this.#store.consumeSync(checks);
      }
      const late: LateDecision = { rejected: false };
      return withTimeout(this.#store.consume(checks, late), this.#options.timeoutMs, this.#timeoutError).catch((error: unknown) => {
        const decision = this.#decideWithoutStore(checks, asError(error));
        // A refused request uses up nothing, also when a slow store charges it after all.
        late.rejected = !decision.allowed;
        return decision;
      });
    } catch (error) {
      return this.#decideWithoutStore(checks, asError(error));
    }
  }

  #decideWithoutStore(checks: readonly LimitCheck[], error: Error): RateLimitDecision {
    this.storeFailures += 1;
    this.#failureReports.add(error);

    const results: LimitResult[] = checks.map((check) => ({
      check,
      allowed: check.onStoreFailure === 'open',
      remaining: 0,
      retryAfterMs: check.onStoreFailure === 'open' ? 0 : 1000,
      resetAfterMs: 0,
    }));
    return { allowed: results.every((result) => result.allowed), results, storeFailure: error };
  }
}
