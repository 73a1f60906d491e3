/**
 * Results of a pure function of a string, remembered for the inputs that
 * repeat on the request path: client addresses, header names, Content-Type
 * values.
 *
 * Callers and upstreams choose these inputs, so the memo is bounded. A key
 * longer than `maxKeyLength` is never remembered, and the memo is emptied
 * when it contains `maxEntries` results. Inputs that keep changing then cost
 * one computation each, as they would without the memo.
 */
export class StringMemo<V> {
  readonly #results = new Map<string, V>();
  readonly #compute: (key: string) => V;
  readonly #maxEntries: number;
  readonly #maxKeyLength: number;

  constructor(compute: (key: string) => V, limits: { maxEntries: number; maxKeyLength: number }) {
    this.#compute = compute;
    this.#maxEntries = limits.maxEntries;
    this.#maxKeyLength = limits.maxKeyLength;
  }

  /** Number of remembered results. */
  get size(): number {
    return this.#results.size;
  }

  /** Returns the result for `key`, computing and remembering it when it is new. */
  get(key: string): V {
    if (key.length > this.#maxKeyLength) {
      return this.#compute(key);
    }

    const remembered = this.#results.get(key);
    if (remembered !== undefined) {
      return remembered;
    }

    const result = this.#compute(key);
    if (this.#results.size >= this.#maxEntries) {
      this.#results.clear();
    }
    this.#results.set(key, result);
    return result;
  }
}
