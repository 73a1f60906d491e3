import { callerKeyPart, FailureCounters, type FailureCounter, type FailureDelayOptions } from './failure-counters.js';
import type { RateLimitStore } from './types.js';

export interface ClientAuthThrottleOptions extends FailureDelayOptions {
  /** Failed client authentications per client id from one client address before delays start. */
  clientThreshold: number;
  /** Failed client authentications per client id from all addresses together before delays start. */
  clientTotalThreshold: number;
  /** Failed client authentications per client address, across client ids, before delays start. */
  addressThreshold: number;
}

/** Whether a client authentication may check its credentials, and if not, how long to wait. */
export type ClientAuthVerdict = { allowed: true } | { allowed: false; retryAfterMs: number };

/**
 * Limits failed client authentications at the OAuth endpoints with delays
 * that double after each failure past a threshold, on three counters: the
 * client id from one address, the client id from everywhere, and the
 * address across client ids.
 *
 * A client that authenticates successfully resets its counters for that
 * address. The client-wide and address counters apply to a client id only
 * at an address where it was rejected since its last success. Guesses
 * spread over many addresses or many client ids are therefore delayed after
 * the first failure of each client id at each address. Other callers'
 * guesses do not delay a client whose secret never fails, unless it sends
 * more authentications at once than `clientThreshold` (see begin).
 * Counters are keyed by the submitted client id whether or not such a
 * client exists, so unknown and registered client ids get the same answers.
 */
export class ClientAuthThrottle {
  readonly #counters: FailureCounters;
  readonly #options: ClientAuthThrottleOptions;

  constructor(store: RateLimitStore, options: ClientAuthThrottleOptions) {
    this.#counters = new FailureCounters(store, options, 'client authentication throttle');
    this.#options = options;
  }

  #pair(clientId: string, address: string): FailureCounter {
    return { key: `client-auth:${callerKeyPart(clientId)}&address:${address}|failures`, threshold: this.#options.clientThreshold };
  }

  /**
   * Rejected authentications of the client id from one address. Unlike the
   * pair counter, it leaves out attempts still in flight, so parallel
   * requests of a client that has not failed there are not taken for failures.
   * Only whether its count is zero matters.
   */
  #rejected(clientId: string, address: string): FailureCounter {
    return { key: `client-auth:${callerKeyPart(clientId)}&address:${address}|rejected`, threshold: 1 };
  }

  #client(clientId: string): FailureCounter {
    return { key: `client-auth:${callerKeyPart(clientId)}|failures`, threshold: this.#options.clientTotalThreshold };
  }

  #address(address: string): FailureCounter {
    return { key: `client-auth-address:${address}|failures`, threshold: this.#options.addressThreshold };
  }

  /**
   * Decides whether an attempt may have its credentials checked. `clientId`
   * is undefined when the client id is not known before oidc-provider reads
   * the body, and then only the address counter applies.
   *
   * An attempt with a client id counts as a failure of its client and
   * address before the check, so that attempts sent in parallel cannot all
   * pass: past the threshold only the attempt whose increment immediately
   * followed the observed count proceeds. {@link succeeded} takes it back.
   *
   * NOTE: a client that sends more than `clientThreshold` authentications
   * in parallel from one address gets 429 for those past the threshold,
   * because before the check they cannot be distinguished from a burst of
   * guesses.
   */
  async begin(clientId: string | undefined, address: string): Promise<ClientAuthVerdict> {
    const addressCounter = this.#address(address);
    if (clientId === undefined) {
      const [seen] = await this.#counters.read([addressCounter]);
      const wait = this.#counters.remainingDelay(addressCounter, seen);
      return wait > 0 ? { allowed: false, retryAfterMs: wait } : { allowed: true };
    }

    const pair = this.#pair(clientId, address);
    const client = this.#client(clientId);
    const [pairSeen, clientSeen, addressSeen, rejectedSeen] = await this.#counters.read([pair, client, addressCounter, this.#rejected(clientId, address)]);
    // The counters shared with other callers apply only where this client id
    // was rejected. Guesses from elsewhere, or from others behind the same
    // address, then leave a client that never fails undelayed.
    const pairFailed = (rejectedSeen?.count ?? 0) > 0;
    const wait = Math.max(
      this.#counters.remainingDelay(pair, pairSeen),
      pairFailed ? this.#counters.remainingDelay(addressCounter, addressSeen) : 0,
      pairFailed ? this.#counters.remainingDelay(client, clientSeen) : 0,
    );
    if (wait > 0) {
      return { allowed: false, retryAfterMs: wait };
    }

    const [count = 0] = await this.#counters.record([pair]);
    const raced = count > pair.threshold && count !== (pairSeen?.count ?? 0) + 1;
    return raced ? { allowed: false, retryAfterMs: this.#counters.baseDelayMs } : { allowed: true };
  }

  /**
   * Counts a rejected authentication against the client id across addresses
   * and against the address, and marks the client id as rejected from that
   * address. The client id and address pair was counted by {@link begin}.
   */
  async failed(clientId: string | undefined, address: string): Promise<void> {
    const counters =
      clientId === undefined
        ? [this.#address(address)]
        : [this.#client(clientId), this.#address(address), this.#rejected(clientId, address)];
    await this.#counters.record(counters);
  }

  /** Clears the client's counters for this address. The client-wide and address counters keep their counts. */
  async succeeded(clientId: string, address: string): Promise<void> {
    await this.#counters.reset([this.#pair(clientId, address), this.#rejected(clientId, address)]);
  }
}
