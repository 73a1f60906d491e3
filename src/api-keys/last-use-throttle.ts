/**
 * Decides when the last use of an API key is written to the store: at most
 * once per interval for each key, so that a busy key costs one write per
 * interval rather than one per request.
 *
 * The times it remembers are bounded. A time older than the interval no
 * longer delays any write, so those go first. When more keys than the
 * bound were used within one interval, everything is forgotten, which costs
 * at most one early write per key.
 */
export class LastUseThrottle {
  readonly #intervalSeconds: number;
  readonly #maxKeys: number;
  readonly #recordedAt = new Map<string, number>();

  constructor(intervalSeconds: number, maxKeys: number) {
    this.#intervalSeconds = intervalSeconds;
    this.#maxKeys = maxKeys;
  }

  /** Number of keys whose last recorded use is remembered. */
  get size(): number {
    return this.#recordedAt.size;
  }

  /** Tells whether the use of key `id` at `now` (epoch seconds) should be written, and remembers it if so. */
  shouldRecord(id: string, now: number): boolean {
    const last = this.#recordedAt.get(id);
    if (last !== undefined && now - last < this.#intervalSeconds) {
      return false;
    }

    if (last === undefined && this.#recordedAt.size >= this.#maxKeys) {
      this.#forgetExpired(now);
    }
    // Deleted first, so that the map's order is the order of the times.
    this.#recordedAt.delete(id);
    this.#recordedAt.set(id, now);
    return true;
  }

  #forgetExpired(now: number): void {
    for (const [id, recordedAt] of this.#recordedAt) {
      if (now - recordedAt < this.#intervalSeconds) {
        break;
      }
      this.#recordedAt.delete(id);
    }

    if (this.#recordedAt.size >= this.#maxKeys) {
      this.#recordedAt.clear();
    }
  }
}
