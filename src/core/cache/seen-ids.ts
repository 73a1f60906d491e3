import { LruCache } from './lru-cache.js';

/** The outcome of SeenIds.use. */
export type IdUse = 'accepted' | 'reused' | 'forgotten';

/**
 * Remembers single-use ids until they expire, so that a second use within
 * their lifetime can be rejected.
 *
 * Ids arrive with nearly the same lifetime, so insertion order is close to
 * expiry order and expired ids are swept from the oldest end. When more ids
 * are alive than `maxEntries`, the oldest is forgotten to bound memory. A
 * forgotten id could then be used again, so from that moment an id that is
 * not remembered is accepted only when it expires later than every live id
 * forgotten so far. That rejects a few ids that arrive late, never a reuse.
 */
export class SeenIds {
  readonly #expiries: LruCache<string, number>;
  readonly #maxEntries: number;
  /** The latest expiry of an id forgotten before it expired, in milliseconds since the epoch. */
  #forgottenUntil = 0;

  constructor(maxEntries: number) {
    this.#expiries = new LruCache(maxEntries);
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#expiries.size;
  }

  /**
   * Records `id` as used until `expiresAt` (milliseconds since the epoch).
   * Returns `reused` when it was already used and has not expired, and
   * `forgotten` when it is not remembered but expires no later than an id
   * forgotten for lack of room, so a use of it may have been forgotten.
   */
  use(id: string, expiresAt: number, now = Date.now()): IdUse {
    this.#sweep(now);

    const known = this.#expiries.peek(id);
    if (known !== undefined && known > now) {
      return 'reused';
    }
    if (known === undefined && expiresAt <= this.#forgottenUntil) {
      return 'forgotten';
    }

    if (known === undefined && this.#expiries.size >= this.#maxEntries) {
      this.#forgetOldest();
    }
    this.#expiries.set(id, expiresAt);
    return 'accepted';
  }

  #forgetOldest(): void {
    const oldest = this.#expiries.oldest();
    if (oldest !== undefined) {
      this.#forgottenUntil = Math.max(this.#forgottenUntil, oldest[1]);
      this.#expiries.delete(oldest[0]);
    }
  }

  #sweep(now: number): void {
    for (let entry = this.#expiries.oldest(); entry !== undefined && entry[1] <= now; entry = this.#expiries.oldest()) {
      this.#expiries.delete(entry[0]);
    }
  }
}
