/**
 * Remembers single-use ids until they expire, so that a second use within
 * their lifetime can be rejected.
 *
 * Ids arrive with nearly the same lifetime, so insertion order is close to
 * expiry order and expired ids are swept from the front. When more ids are
 * alive than `maxEntries`, the oldest is forgotten first, which bounds memory
 * at the cost of letting that one id be used again.
 */
export class SeenIds {
  readonly #expiries = new Map<string, number>();
  readonly #maxEntries: number;

  constructor(maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(`maxEntries must be a positive integer, got ${maxEntries}`);
    }
    this.#maxEntries = maxEntries;
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

    const known = this.#expiries.get(id);
    if (known !== undefined && known > now) {
      return false;
    }

    this.#expiries.delete(id);
    this.#expiries.set(id, expiresAt);
    if (this.#expiries.size > this.#maxEntries) {
      const oldest = this.#expiries.keys().next().value as string;
      this.#expiries.delete(oldest);
    }
    return true;
  }

  #sweep(now: number): void {
    for (const [id, expiresAt] of this.#expiries) {
      if (expiresAt > now) {
        return;
      }
      this.#expiries.delete(id);
    }
  }
}
