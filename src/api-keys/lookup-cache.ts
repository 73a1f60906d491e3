import { hash } from 'node:crypto';

import { LruCache } from '../core/cache/lru-cache.js';
import type { Account } from '../store/account-repository.js';
import type { ApiKeyRecord } from '../store/api-key-repository.js';

/** A stored key whose hash matched the presented key and that was neither revoked nor expired when read, with its owner. */
export interface ApiKeyMatch {
  record: ApiKeyRecord;
  owner: Account;
}

/**
 * A stored key whose hash matched the presented key but that can no longer
 * be used: revoked or expired, or its owner disabled or removed.
 */
export interface EndedApiKey {
  ended: ApiKeyRecord;
}

/** The outcome of a lookup: a match, an ended key, or undefined when no stored key matches the presented one. */
export type ApiKeyLookupResult = ApiKeyMatch | EndedApiKey | undefined;

/**
 * Reads a presented key's record and owner from the store and checks its
 * hash, revocation and expiry. Returns undefined for a key whose hash
 * matches no stored key, and an EndedApiKey for one that fails another check.
 */
export type ApiKeyLookup = (value: string, keyId: string) => Promise<ApiKeyLookupResult>;

export interface ApiKeyLookupCacheOptions {
  /** How long a match is reused, in milliseconds. */
  ttlMs: number;
  /** Maximum number of keys kept; the least recently used are evicted first. */
  maxEntries: number;
  /** Current time in milliseconds; replaceable in tests. */
  now?: () => number;
}

interface Entry {
  keyId: string;
  /** The lookup, shared by every request that presents the key while it runs. */
  pending: Promise<ApiKeyLookupResult>;
  /** The match, once the lookup found one. */
  match?: ApiKeyMatch;
  /** Time in milliseconds from which the match is read again. */
  reusableUntil: number;
}

/**
 * Reuses the store lookup of an API key for `ttlMs`, so that a busy key
 * costs one lookup (the key and its owner) and one HMAC per period instead
 * of one per request.
 *
 * Entries are keyed by the SHA-256 of the presented key, so the cache never
 * keeps a usable credential. A match is reused for at most `ttlMs` after its
 * lookup started and never from the key's `expiresAt` on, which after a
 * rotation is the end of its grace period. Checks that depend on the
 * request, such as the allowed CIDRs, are the caller's to run on every use.
 *
 * ApiKeyService calls `forget` when it revokes or rotates a key, so both
 * take effect in this process at once, and with Redis also when another
 * instance announces that it did. A key revoked or rotated by the CLI, or
 * whose announcement was lost, keeps its cached match for up to `ttlMs`. Concurrent requests with one key share a single
 * lookup, and a failed lookup is not kept, so the next request tries again.
 *
 * A lookup that finds no match is not kept either. Keeping it would not
 * delay new keys, because a key value is random and no client can present
 * it before the key is created. But each distinct made-up key would take an
 * entry, and a client sending many of them would evict the keys of working
 * clients. Concurrent requests with one bad key still share one lookup.
 */
export class ApiKeyLookupCache {
  readonly #lookup: ApiKeyLookup;
  readonly #entries: LruCache<string, Entry>;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(lookup: ApiKeyLookup, options: ApiKeyLookupCacheOptions) {
    this.#lookup = lookup;
    this.#entries = new LruCache(options.maxEntries);
    this.#ttlMs = options.ttlMs;
    this.#now = options.now ?? Date.now;
  }

  /** Number of keys currently cached or being looked up. */
  get size(): number {
    return this.#entries.size;
  }

  /** Returns the match of `value`, whose key id is `keyId`, from the cache or from a new lookup. */
  async find(value: string, keyId: string): Promise<ApiKeyLookupResult> {
    const digest = hash('sha256', value, 'base64url');
    const startedAt = this.#now();
    const cached = this.#entries.get(digest);
    if (cached !== undefined && cached.match === undefined) {
      return cached.pending;
    }
    if (cached?.match !== undefined && startedAt < cached.reusableUntil) {
      return cached.match;
    }

    const entry: Entry = { keyId, pending: this.#lookup(value, keyId), reusableUntil: startedAt + this.#ttlMs };
    this.#entries.set(digest, entry);
    try {
      const result = await entry.pending;
      this.#keep(digest, entry, result !== undefined && 'owner' in result ? result : undefined);
      return result;
    } catch (error) {
      this.#entries.deleteIfCurrent(digest, entry);
      throw error;
    }
  }

  /** Drops every entry of the key `keyId`, finished or still being looked up, so that the next use reads the store. */
  forget(keyId: string): void {
    this.#entries.deleteMatching((_digest, entry) => entry.keyId === keyId);
  }

  /**
   * Stores the match on its entry. An entry that `forget` removed while the
   * lookup ran stays out of the cache, so a record read before a revocation
   * is not served after it.
   */
  #keep(digest: string, entry: Entry, match: ApiKeyMatch | undefined): void {
    const expiresAt = match?.record.expiresAt ?? null;
    if (expiresAt !== null) {
      entry.reusableUntil = Math.min(entry.reusableUntil, expiresAt * 1000);
    }

    if (match !== undefined && this.#now() < entry.reusableUntil) {
      entry.match = match;
    } else {
      this.#entries.deleteIfCurrent(digest, entry);
    }
  }
}
