import { isPromise, type Pending } from '../pending.js';
import { LruCache } from './lru-cache.js';

/** Tells whether a grant or client is still active: true when it exists and is not revoked. */
export type ActivityCheck = (id: string) => Pending<boolean>;

export interface ActivityCacheOptions {
  /** How long a result is reused, in milliseconds. */
  ttlMs: number;
  /** Most ids kept; the least recently used are evicted first. */
  maxEntries: number;
  /** Current time in milliseconds; replaceable in tests. */
  now?: () => number;
}

interface Entry {
  /** The result, or the read that every concurrent check of the id shares until it settles. */
  active: Pending<boolean>;
  checkedAt: number;
}

/**
 * Reuses the result of an activity check for `ttlMs`, so that a busy token
 * costs one database read per period instead of one per request.
 *
 * A revocation in this process calls `forget` and takes effect at once. The
 * admin CLI revokes from another process, which this one does not observe,
 * so `ttlMs` is the longest time such a revoked grant or client keeps
 * working. Concurrent checks of one id share a single read, and a failed
 * read is not kept, so the next request tries again.
 */
export class ActivityCache {
  readonly #check: ActivityCheck;
  readonly #entries: LruCache<string, Entry>;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(check: ActivityCheck, options: ActivityCacheOptions) {
    this.#check = check;
    this.#entries = new LruCache(options.maxEntries);
    this.#ttlMs = options.ttlMs;
    this.#now = options.now ?? Date.now;
  }

  /** Number of ids currently cached. */
  get size(): number {
    return this.#entries.size;
  }

  /** Returns a fresh cached result as a plain value, or else the promise of a new read. */
  isActive(id: string): Pending<boolean> {
    const time = this.#now();
    const cached = this.#entries.get(id);
    if (cached !== undefined && time - cached.checkedAt < this.#ttlMs) {
      return cached.active;
    }

    const checked = this.#check(id);
    const active = isPromise(checked) ? Promise.resolve(checked) : checked;
    const entry: Entry = { active, checkedAt: time };
    this.#entries.set(id, entry);
    if (isPromise(active)) {
      // Once settled, the result is kept as a plain value, so the hits that
      // follow cost no promise.
      active.then(
        (value) => {
          entry.active = value;
        },
        () => this.#entries.deleteIfCurrent(id, entry),
      );
    }
    return active;
  }

  /** Drops the result for `id`, so that the next check reads it again. */
  forget(id: string): void {
    this.#entries.delete(id);
  }
}
