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

/** A sign-in attempt that the throttle let through, to end with its outcome. */
export interface LoginAttempt {
  address: string;
  /** The period in which the attempt began, whose counters its end is recorded in. */
  period: number;
}

/** Whether a sign-in attempt may proceed, and if not, how long to wait. */
export type LoginVerdict = { allowed: true; attempt: LoginAttempt } | { allowed: false; retryAfterMs: number };

/**
 * Length of the periods in which attempts in progress are counted, in
 * milliseconds. An attempt counts as in progress in its own period and the
 * next, so one whose end is never recorded, as when the process stops
 * during its check, stops counting after two periods at most. It is an
 * estimate chosen far above the time of a password check.
 */
const ATTEMPT_PERIOD_MS = 60_000;

/**
 * How long the counters of a period live after their last write: past the
 * end of the next period, when they stop being read. With the throttle's
 * window (15 minutes by default), each address would keep about thirty of
 * them in the store, crowding out the failure counters of a memory store
 * that has to evict.
 */
const ATTEMPT_COUNTER_LIFETIME_MS = 3 * ATTEMPT_PERIOD_MS;

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
   * Counters of the attempts from the address that began their password
   * check in `period` and of those among them that ended, whatever the
   * outcome. Their difference is the number of checks in progress, whose
   * failures the address counter does not contain yet.
   */
  #attemptCounters(address: string, period: number): [begun: FailureCounter, ended: FailureCounter] {
    return [
      { key: `login-address:${address}|attempts:${period}`, threshold: Number.POSITIVE_INFINITY, windowMs: ATTEMPT_COUNTER_LIFETIME_MS },
      { key: `login-address:${address}|ended:${period}`, threshold: Number.POSITIVE_INFINITY, windowMs: ATTEMPT_COUNTER_LIFETIME_MS },
    ];
  }

  /**
   * Decides whether an attempt may check its password, and if so counts it
   * as a failure of the username before the check. Counting first means
   * attempts sent in parallel cannot all pass: once a counter goes past its
   * threshold, only the attempt whose increment immediately followed the
   * observed count proceeds. A successful sign-in then clears the
   * username's counters.
   *
   * The address counter is counted after the check ({@link failed}), so
   * there every check in progress stands for a failure still to come, and
   * an attempt is rejected when the failures and those checks, its own
   * included, would go past the threshold. Each allowed attempt must end
   * with {@link failed}, {@link succeeded} or {@link abandoned}.
   */
  async begin(username: string, address: string): Promise<LoginVerdict> {
    const usernameCounters = this.#usernameCounters(username, address);
    const addressCounter = this.#addressCounter(address);
    const period = Math.floor(Date.now() / ATTEMPT_PERIOD_MS);
    const [begunCounter, endedCounter] = this.#attemptCounters(address, period);
    const [previousBegunCounter, previousEndedCounter] = this.#attemptCounters(address, period - 1);
    const [pairSeen, accountSeen, addressSeen, endedSeen, previousBegunSeen, previousEndedSeen] = await this.#counters.read([
      ...usernameCounters,
      addressCounter,
      endedCounter,
      previousBegunCounter,
      previousEndedCounter,
    ]);
    const usernameSeen = [pairSeen, accountSeen];

    const wait = Math.max(
      ...usernameCounters.map((counter, index) => this.#counters.remainingDelay(counter, usernameSeen[index])),
      this.#counters.remainingDelay(addressCounter, addressSeen),
    );
    if (wait > 0) {
      return { allowed: false, retryAfterMs: wait };
    }

    // An attempt whose begin timed out gets an error and never ends, so a
    // begun count that the store writes after the timeout is ended at once.
    // Otherwise a slow store would fill the address's places for checks in
    // progress for up to two periods. If this end fails too, the place stays
    // taken for that long, as the caller already got the error.
    const endLateAttempt = () => {
      this.#counters.record([endedCounter]).catch(() => undefined);
    };
    const [pairCount = 0, accountCount = 0, begunCount = 0] = await this.#counters.record([...usernameCounters, begunCounter], endLateAttempt);
    const usernameRaced = [pairCount, accountCount].some((count, index) => {
      const counter = usernameCounters[index] as FailureCounter;
      return count > counter.threshold && count !== (usernameSeen[index]?.count ?? 0) + 1;
    });
    const inProgress =
      Math.max(0, begunCount - (endedSeen?.count ?? 0)) + Math.max(0, (previousBegunSeen?.count ?? 0) - (previousEndedSeen?.count ?? 0));
    const addressRaced = (addressSeen?.count ?? 0) + inProgress > addressCounter.threshold;
    if (usernameRaced || addressRaced) {
      await this.#counters.record([endedCounter]);
      return { allowed: false, retryAfterMs: this.#counters.baseDelayMs };
    }
    return { allowed: true, attempt: { address, period } };
  }

  /** Counts a sign-in whose password check failed against its address, and ends the attempt. */
  async failed(attempt: LoginAttempt): Promise<void> {
    await this.#counters.record([this.#addressCounter(attempt.address), this.#endedCounter(attempt)]);
  }

  /** Clears the username's counters after a successful sign-in, and ends the attempt. The address counter never counted it. */
  async succeeded(username: string, attempt: LoginAttempt): Promise<void> {
    await Promise.all([this.#counters.reset(this.#usernameCounters(username, attempt.address)), this.#counters.record([this.#endedCounter(attempt)])]);
  }

  /** Ends an allowed attempt whose password check did not finish, such as when the account store failed. */
  async abandoned(attempt: LoginAttempt): Promise<void> {
    await this.#counters.record([this.#endedCounter(attempt)]);
  }

  #endedCounter(attempt: LoginAttempt): FailureCounter {
    return this.#attemptCounters(attempt.address, attempt.period)[1];
  }
}
