import { identifierKey } from '../registration-rules.js';
import { withTimeout } from '../timeout.js';
import type { RateLimitStore } from './types.js';

export interface LoginThrottleOptions {
  /** Failures per username from one client address before delays start. */
  accountThreshold: number;
  /** Failures per username from all addresses together before delays start. */
  accountTotalThreshold: number;
  /** Failures per client address, across usernames, before delays start. */
  addressThreshold: number;
  /** How long failures are remembered after the last one, in milliseconds. */
  windowMs: number;
  /** Delay after the first failure past a threshold, in milliseconds; it doubles with each further failure. */
  baseDelayMs: number;
  /** Maximum delay, in milliseconds. */
  maxDelayMs: number;
  /** Maximum wait for each store step of a sign-in, in milliseconds. Past it the step fails as if the store were down. Default: no limit. */
  storeTimeoutMs?: number;
}

/** Whether a sign-in attempt may proceed, and if not, how long to wait. */
export type LoginVerdict = { allowed: true } | { allowed: false; retryAfterMs: number };

interface Counter {
  key: string;
  threshold: number;
}

/**
 * Limits failed sign-ins with delays that double after each failure past a
 * threshold, on three counters: the username from one address, the username
 * from everywhere, and the address across usernames.
 *
 * The per-address username counter has the low threshold, so someone who
 * types wrong passwords for a victim's username from their own address
 * does not lock the victim out. The username-wide counter has a higher one
 * and still stops guessing spread over many addresses. Counters are keyed
 * by the submitted username whether or not such an account exists, so the
 * throttle behaves the same for unknown and known accounts.
 */
export class LoginThrottle {
  readonly #store: RateLimitStore;
  readonly #options: LoginThrottleOptions;

  constructor(store: RateLimitStore, options: LoginThrottleOptions) {
    this.#store = store;
    this.#options = options;
  }

  #counters(username: string, address: string): Counter[] {
    const account = identifierKey(username);
    return [
      { key: `login-account:${account}&address:${address}|failures`, threshold: this.#options.accountThreshold },
      { key: `login-account:${account}|failures`, threshold: this.#options.accountTotalThreshold },
      { key: `login-address:${address}|failures`, threshold: this.#options.addressThreshold },
    ];
  }

  /**
   * Decides whether an attempt may check its password, and if so counts it
   * as a failure before the check. Counting first means attempts sent in
   * parallel cannot all pass: once a counter goes past its threshold, only
   * the attempt whose increment immediately followed the observed count
   * proceeds. A successful sign-in then clears the username's counters.
   */
  async begin(username: string, address: string): Promise<LoginVerdict> {
    const counters = this.#counters(username, address);
    const observed = await this.#bounded(Promise.all(counters.map((counter) => this.#store.failures(counter.key, this.#options.windowMs))));

    const wait = Math.max(
      ...counters.map((counter, index) => {
        const seen = observed[index] ?? { count: 0, lastFailureAgoMs: 0 };
        return this.#remainingDelay(seen.count, seen.lastFailureAgoMs, counter.threshold);
      }),
    );
    if (wait > 0) {
      return { allowed: false, retryAfterMs: wait };
    }

    const counts = await this.#bounded(Promise.all(counters.map((counter) => this.#store.recordFailure(counter.key, this.#options.windowMs))));
    const raced = counters.some((counter, index) => {
      const count = counts[index] ?? 0;
      return count > counter.threshold && count !== (observed[index]?.count ?? 0) + 1;
    });
    return raced ? { allowed: false, retryAfterMs: this.#options.baseDelayMs } : { allowed: true };
  }

  /** Clears the username's counters after a successful sign-in; the address keeps its count. */
  async succeeded(username: string, address: string): Promise<void> {
    const [pair, account] = this.#counters(username, address);
    await this.#bounded(Promise.all([pair, account].map((counter) => this.#store.resetFailures((counter as Counter).key))));
  }

  /**
   * Rejects when `operation` takes longer than the store timeout. The Redis
   * client waits longer than the limiter for each reply, so that late
   * charges can be refunded, and a sign-in should not wait that long.
   */
  #bounded<T>(operation: Promise<T>): Promise<T> {
    const timeoutMs = this.#options.storeTimeoutMs;
    if (timeoutMs === undefined) {
      return operation;
    }
    return withTimeout(operation, timeoutMs, () => new Error(`login throttle store did not respond within ${timeoutMs} ms`));
  }

  #remainingDelay(count: number, lastFailureAgoMs: number, threshold: number): number {
    if (count < threshold) {
      return 0;
    }

    const exponent = Math.min(count - threshold, 30);
    const delay = Math.min(this.#options.baseDelayMs * 2 ** exponent, this.#options.maxDelayMs);
    return Math.max(0, delay - lastFailureAgoMs);
  }
}
