import { LruCache } from './lru-cache.js';

/**
 * Remembers single-use ids until they expire, so that a second use within
 * their lifetime can be rejected.
 *
 * Ids arrive with nearly the same lifetime, so insertion order is close to
 * expiry order and expired ids are swept from the oldest end. When more ids
 * are alive than `maxEntries`, the oldest is forgotten first, which bounds
 * memory at the cost of letting that one id be used again.
 */
export class SeenIds {
  readonly #expiries: LruCache<string, number>;

  constructor(maxEntries: number) {
    this.#expiries = new LruCache(maxEntries);
  }

  get size(): number {
    return this.#expiries.size;
  }

  /**
   * Records `id` as used until `expiresAt` (milliseconds since the epoch).
   * Returns false when it was already used and has not expired.
   */
  use(id: string, expiresAt: number, now = Date.now()): boolean {
    this.#sweep(now);

    const known = this.#expiries.peek(id);
    if (known !== undefined && known > now) {
      return false;
    }

    this.#expiries.set(id, expiresAt);
    return true;
  }

  #sweep(now: number): void {
    for (let entry = this.#expiries.oldest(); entry !== undefined && entry[1] <= now; entry = this.#expiries.oldest()) {
      this.#expiries.delete(entry[0]);
    }
  }
}
