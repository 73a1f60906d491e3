import { createHash } from 'node:crypto';

import { withTimeout } from '../timeout.js';
import type { FailureCount, RateLimitStore } from './types.js';

export interface FailureDelayOptions {
  /** How long failures are remembered after the last one, in milliseconds. */
  windowMs: number;
  /** Delay after the first failure past a threshold, in milliseconds. It doubles with each further failure. */
  baseDelayMs: number;
  /** Maximum delay, in milliseconds. */
  maxDelayMs: number;
  /** Maximum wait for each store step, in milliseconds. Past it the step fails as if the store were down. Default: no limit. */
  storeTimeoutMs?: number;
  /** Called with each store step that fails or times out, before the step rejects with the same ThrottleStoreError. */
  onStoreFailure?: (error: ThrottleStoreError) => void;
}

/**
 * A store step of a throttle that failed or timed out. The store's own
 * error, if any, is the cause. Callers reported it through
 * `onStoreFailure` already, so they need not log it again.
 */
export class ThrottleStoreError extends Error {
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = 'ThrottleStoreError';
  }
}

/**
 * Returns a fixed-length counter key part for text the caller chose, such as
 * a username or a client id. Raw text could contain the separators of
 * counter keys, so one name's counter could be another's, such as a
 * username `victim&address:192.0.2.1` naming the victim's counter for that
 * address. It could also be as long as a header.
 */
export function callerKeyPart(text: string): string {
  return createHash('sha256').update(text).digest('base64url');
}

/** A failure counter and the count at which delays start. */
export interface FailureCounter {
  key: string;
  threshold: number;
  /** How long the count lives after its last failure, in milliseconds; the throttle's window when left out. */
  windowMs?: number;
}

/**
 * Failure counts in the rate-limit store with delays that double after each
 * failure past a threshold. Sign-in and client authentication throttles
 * build their counters on it.
 */
export class FailureCounters {
  readonly #store: RateLimitStore;
  readonly #options: FailureDelayOptions;
  readonly #name: string;

  /** `name` names the throttle in the error of a store that does not respond in time. */
  constructor(store: RateLimitStore, options: FailureDelayOptions, name: string) {
    this.#store = store;
    this.#options = options;
    this.#name = name;
  }

  get baseDelayMs(): number {
    return this.#options.baseDelayMs;
  }

  read(counters: readonly FailureCounter[]): Promise<FailureCount[]> {
    return this.#bounded(Promise.all(counters.map((counter) => this.#store.failures(counter.key, counter.windowMs ?? this.#options.windowMs))));
  }

  /**
   * Adds a failure to each counter and returns the new counts. When the
   * store timeout rejects the returned promise but every write still
   * completes afterwards, `onLateWrite` runs.
   */
  record(counters: readonly FailureCounter[], onLateWrite?: () => void): Promise<number[]> {
    const writes = Promise.all(counters.map((counter) => this.#store.recordFailure(counter.key, counter.windowMs ?? this.#options.windowMs)));
    const bounded = this.#bounded(writes);
    if (onLateWrite !== undefined) {
      bounded.catch(() => writes.then(onLateWrite, () => undefined));
    }
    return bounded;
  }

  async reset(counters: readonly FailureCounter[]): Promise<void> {
    await this.#bounded(Promise.all(counters.map((counter) => this.#store.resetFailures(counter.key))));
  }

  /** Returns how long, in milliseconds, the next attempt must still wait after `seen` failures on `counter`; 0 when it may go ahead. */
  remainingDelay(counter: FailureCounter, seen: FailureCount | undefined): number {
    const count = seen?.count ?? 0;
    if (count < counter.threshold) {
      return 0;
    }

    const exponent = Math.min(count - counter.threshold, 30);
    const delay = Math.min(this.#options.baseDelayMs * 2 ** exponent, this.#options.maxDelayMs);
    return Math.max(0, delay - (seen?.lastFailureAgoMs ?? 0));
  }

  /**
   * Rejects with a ThrottleStoreError when `operation` fails or takes longer
   * than the store timeout, and reports it. The Redis client waits longer
   * than the limiter for each reply, so that late charges can be refunded,
   * and an authentication should not wait that long.
   */
  #bounded<T>(operation: Promise<T>): Promise<T> {
    const timeoutMs = this.#options.storeTimeoutMs;
    const bounded =
      timeoutMs === undefined
        ? operation
        : withTimeout(operation, timeoutMs, () => new ThrottleStoreError(`${this.#name} store did not respond within ${timeoutMs} ms`));

    return bounded.catch((error: unknown) => {
      // pino's error serializer appends the messages of the causes.
      const failure = error instanceof ThrottleStoreError ? error : new ThrottleStoreError(`${this.#name} store failed`, { cause: error });
      this.#options.onStoreFailure?.(failure);
      throw failure;
    });
  }
}
