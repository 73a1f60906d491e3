/** The kinds of credential whose revocation other instances must learn of. */
export type RevocableKind = 'grant' | 'client';

/**
 * A short-lived memory of credentials found active, so the gateway need not
 * ask the database on every request.
 *
 * Only "active" answers are remembered, and each for at most `ttlMs`, so a
 * revocation whose broadcast never arrives still takes effect within `ttlMs`;
 * a broadcast (see RevocationBus) removes the entry at once. The cache is an
 * optimisation: the database stays the authority.
 */
export class ActiveCache {
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #expiries = new Map<string, number>();

  constructor(options: { ttlMs: number; maxEntries: number; now?: () => number }) {
    this.#ttlMs = options.ttlMs;
    this.#maxEntries = options.maxEntries;
    this.#now = options.now ?? Date.now;
  }

  /** Returns true when `id` was found active less than `ttlMs` ago, else asks `load` and remembers a true answer. */
  async isActive(kind: RevocableKind, id: string, load: () => Promise<boolean>): Promise<boolean> {
    const key = `${kind}:${id}`;
    const expiresAt = this.#expiries.get(key);
    if (expiresAt !== undefined && expiresAt > this.#now()) {
      return true;
    }

    const active = await load();
    this.#expiries.delete(key);
    if (active) {
      this.#remember(key);
    }
    return active;
  }

  /** Forgets `id`, so the next check asks the database. */
  invalidate(kind: RevocableKind, id: string): void {
    this.#expiries.delete(`${kind}:${id}`);
  }

  #remember(key: string): void {
    // A Map iterates in insertion order, so the first key is the oldest entry.
    if (this.#expiries.size >= this.#maxEntries) {
      const oldest = this.#expiries.keys().next().value;
      if (oldest !== undefined) {
        this.#expiries.delete(oldest);
      }
    }
    this.#expiries.set(key, this.#now() + this.#ttlMs);
  }
}
