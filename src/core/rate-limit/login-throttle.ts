import { identifierKey } from '../registration-rules.js';
import { callerKeyPart, FailureCounters, type FailureCounter, type FailureDelayOptions } from './failure-counters.js';
import type { RateLimitStore } from './types.js';

export interface LoginThrottleOptions extends FailureDelayOptions {
  /** Failures per username from one client address before delays start. */
  accountThreshold: number;
  /** Failures per username from all addresses together before delays start. */
  accountTotalThreshold: number;
  /** Failures per client address, across usernames, before delays start. */
  addressThreshold: number;
}

/** Whether a sign-in attempt may proceed, and if not, how long to wait. */
export type LoginVerdict = { allowed: true } | { allowed: false; retryAfterMs: number };

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
  readonly #counters: FailureCounters;
  readonly #options: LoginThrottleOptions;

  constructor(store: RateLimitStore, options: LoginThrottleOptions) {
    this.#counters = new FailureCounters(store, options, 'login throttle');
    this.#options = options;
  }

  #countersOf(username: string, address: string): FailureCounter[] {
    const account = callerKeyPart(identifierKey(username));
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
    const counters = this.#countersOf(username, address);
    const observed = await this.#counters.read(counters);

    const wait = Math.max(...counters.map((counter, index) => this.#counters.remainingDelay(counter, observed[index])));
    if (wait > 0) {
      return { allowed: false, retryAfterMs: wait };
    }

    const counts = await this.#counters.record(counters);
    const raced = counters.some((counter, index) => {
      const count = counts[index] ?? 0;
      return count > counter.threshold && count !== (observed[index]?.count ?? 0) + 1;
    });
    return raced ? { allowed: false, retryAfterMs: this.#counters.baseDelayMs } : { allowed: true };
  }

  /** Clears the username's counters after a successful sign-in; the address keeps its count. */
  async succeeded(username: string, address: string): Promise<void> {
    const [pair, account] = this.#countersOf(username, address);
    await this.#counters.reset([pair, account].filter((counter): counter is FailureCounter => counter !== undefined));
  }
}
