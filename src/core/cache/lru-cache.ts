/**
 * A map that keeps at most `maxEntries` entries and evicts the least
 * recently used one first. A Map iterates in insertion order, so moving an
 * entry to the end on every read keeps the oldest entry first.
 */
export class LruCache<K, V> {
  readonly #entries = new Map<K, V>();
  readonly #maxEntries: number;

  constructor(maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(`maxEntries must be a positive integer, got ${maxEntries}`);
    }
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: K): V | undefined {
    const value = this.#entries.get(key);
    if (value !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, value);
    }
    return value;
  }

  /** Returns the least recently used entry without marking it as used. */
  oldest(): [K, V] | undefined {
    return this.#entries.entries().next().value;
  }

  /** Returns the value without marking it as recently used. */
  peek(key: K): V | undefined {
    return this.#entries.get(key);
  }

  set(key: K, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);

    if (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value as K;
      this.#entries.delete(oldest);
    }
  }

  delete(key: K): void {
    this.#entries.delete(key);
  }

  /**
   * Deletes the entry of `key` only while its value is still `value`. A
   * pending lookup uses it to drop its own entry without removing one that
   * a newer lookup stored in its place.
   */
  deleteIfCurrent(key: K, value: V): void {
    if (this.#entries.get(key) === value) {
      this.#entries.delete(key);
    }
  }

  /** Deletes every entry for which `matches` returns true. It visits all entries, so it costs O(size). */
  deleteMatching(matches: (key: K, value: V) => boolean): void {
    for (const [key, value] of this.#entries) {
      if (matches(key, value)) {
        this.#entries.delete(key);
      }
    }
  }

  clear(): void {
    this.#entries.clear();
  }
}
