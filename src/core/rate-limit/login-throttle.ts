import type { RateLimitStore } from './types.js';

export interface LoginThrottleOptions {
  /** Failures per account before delays start. */
  accountThreshold: number;
  /** Failures per client address before delays start. */
  addressThreshold: number;
  /** How long failures are remembered after the last one, in milliseconds. */
  windowMs: number;
  /** Delay after the first failure past a threshold, in milliseconds; it doubles with each further failure. */
  baseDelayMs: number;
  /** Longest delay, in milliseconds. */
  maxDelayMs: number;
}

/** Whether a sign-in attempt may proceed, and if not, how long to wait. */
export type LoginVerdict = { allowed: true } | { allowed: false; retryAfterMs: number };

/**
 * Limits failed sign-ins per account and per client address with delays that
 * double after each failure past a threshold.
 *
 * The account key is the submitted username, whether or not such an account
 * exists, so the throttle behaves the same for unknown and known accounts
 * and cannot be used to find out which usernames exist.
 */
export class LoginThrottle {
  readonly #store: RateLimitStore;
  readonly #options: LoginThrottleOptions;

  constructor(store: RateLimitStore, options: LoginThrottleOptions) {
    this.#store = store;
    this.#options = options;
  }

  /** Checks whether an attempt for `username` from `address` may proceed now. */
  async check(username: string, address: string): Promise<LoginVerdict> {
    const [account, client] = await Promise.all([
      this.#store.failures(accountKey(username), this.#options.windowMs),
      this.#store.failures(addressKey(address), this.#options.windowMs),
    ]);

    const waits = [
      this.#remainingDelay(account.count, account.lastFailureAgoMs, this.#options.accountThreshold),
      this.#remainingDelay(client.count, client.lastFailureAgoMs, this.#options.addressThreshold),
    ];
    const retryAfterMs = Math.max(...waits);
    return retryAfterMs > 0 ? { allowed: false, retryAfterMs } : { allowed: true };
  }

  async recordFailure(username: string, address: string): Promise<void> {
    await Promise.all([
      this.#store.recordFailure(accountKey(username), this.#options.windowMs),
      this.#store.recordFailure(addressKey(address), this.#options.windowMs),
    ]);
  }

  /** Clears the account's failures after a successful sign-in; the address keeps its count. */
  async recordSuccess(username: string): Promise<void> {
    await this.#store.resetFailures(accountKey(username));
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

function accountKey(username: string): string {
  return `login-account:${username.toLowerCase()}|failures`;
}

function addressKey(address: string): string {
  return `login-address:${address}|failures`;
}
