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
 *
 * The address counter contains failed sign-ins only, because everyone behind
 * one address, such as an office's NAT, signs in through it. Counting a
 * sign-in there before its check and taking the count back after a success
 * would still renew the counter's window.
 */
export class LoginThrottle {
  readonly #counters: FailureCounters;
  readonly #options: LoginThrottleOptions;

  constructor(store: RateLimitStore, options: LoginThrottleOptions) {
    this.#counters = new FailureCounters(store, options, 'login throttle');
    this.#options = options;
  }

  #usernameCounters(username: string, address: string): [pair: FailureCounter, account: FailureCounter] {
    const account = callerKeyPart(identifierKey(username));
    return [
      { key: `login-account:${account}&address:${address}|failures`, threshold: this.#options.accountThreshold },
      { key: `login-account:${account}|failures`, threshold: this.#options.accountTotalThreshold },
    ];
  }

  #addressCounter(address: string): FailureCounter {
    return { key: `login-address:${address}|failures`, threshold: this.#options.addressThreshold };
  }

  /**
   * Counter of the attempts from the address that the throttle let through
   * to their password check. Only the difference between two reads matters,
   * which is the number of attempts that began in between.
   */
  #attemptCounter(address: string): FailureCounter {
    return { key: `login-address:${address}|attempts`, threshold: Number.POSITIVE_INFINITY };
  }

  /**
   * Decides whether an attempt may check its password, and if so counts it
   * as a failure of the username before the check. Counting first means
   * attempts sent in parallel cannot all pass: once a counter goes past its
   * threshold, only the attempt whose increment immediately followed the
   * observed count proceeds. A successful sign-in then clears the
   * username's counters. The address counter is counted after the check
   * ({@link failed}), so there the attempts that began between this
   * attempt's read and its own count stand for failures still to come.
   */
  async begin(username: string, address: string): Promise<LoginVerdict> {
    const usernameCounters = this.#usernameCounters(username, address);
    const addressCounter = this.#addressCounter(address);
    const attemptCounter = this.#attemptCounter(address);
    const [pairSeen, accountSeen, addressSeen, attemptsSeen] = await this.#counters.read([...usernameCounters, addressCounter, attemptCounter]);
    const usernameSeen = [pairSeen, accountSeen];

    const wait = Math.max(
      ...usernameCounters.map((counter, index) => this.#counters.remainingDelay(counter, usernameSeen[index])),
      this.#counters.remainingDelay(addressCounter, addressSeen),
    );
    if (wait > 0) {
      return { allowed: false, retryAfterMs: wait };
    }

    const [pairCount = 0, accountCount = 0, attemptCount = 0] = await this.#counters.record([...usernameCounters, attemptCounter]);
    const usernameRaced = [pairCount, accountCount].some((count, index) => {
      const counter = usernameCounters[index] as FailureCounter;
      return count > counter.threshold && count !== (usernameSeen[index]?.count ?? 0) + 1;
    });
    const attemptsSince = attemptCount - (attemptsSeen?.count ?? 0);
    const addressRaced = attemptsSince > 1 && (addressSeen?.count ?? 0) + attemptsSince > addressCounter.threshold;
    return usernameRaced || addressRaced ? { allowed: false, retryAfterMs: this.#counters.baseDelayMs } : { allowed: true };
  }

  /** Counts a sign-in whose password check failed against its address. */
  async failed(address: string): Promise<void> {
    await this.#counters.record([this.#addressCounter(address)]);
  }

  /** Clears the username's counters after a successful sign-in. The address counter never counted it. */
  async succeeded(username: string, address: string): Promise<void> {
    await this.#counters.reset(this.#usernameCounters(username, address));
  }
}
