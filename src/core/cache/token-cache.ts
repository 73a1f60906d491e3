import { hash } from 'node:crypto';

import { InvalidAccessTokenError, type AccessTokenClaims } from '../access-token-verifier.js';
import { CompactJwsSpelling } from '../jws-spelling.js';
import type { Pending } from '../pending.js';
import { LruCache } from './lru-cache.js';

/** Anything that turns an access token into verified claims, such as AccessTokenVerifier. */
export interface TokenVerifier {
  /** Returns the claims, without a promise when they are cached. Throws or rejects with InvalidAccessTokenError. */
  verify(token: string): Pending<AccessTokenClaims>;
}

export interface VerifiedTokenCacheOptions {
  /** Most tokens kept; the least recently used are evicted first. */
  maxEntries: number;
  /**
   * Returns the JWK Set in force, or undefined while no keys can be used
   * without a fetch. The cache compares it by identity on every lookup and
   * empties itself when it changes, so a token signed by a key that was
   * removed or rotated out is verified again, against the new set. While it
   * is undefined, every token is verified and none is kept.
   */
  keySet: () => object | undefined;
  /**
   * The accepted JWS algorithms, to check the signature length before the
   * lookup where they fix it. Without them only the spelling of the parts
   * is checked there, and the wrapped verifier must check the length.
   */
  algorithms?: readonly string[];
  /** Current time in seconds since the epoch; replaceable in tests. */
  now?: () => number;
}

/**
 * Wraps a token verifier and remembers the claims of tokens it accepted,
 * so that a client reusing its token skips the signature check.
 *
 * Entries are keyed by the SHA-256 of the token, so the cache never keeps
 * a usable credential. A cached token is served only from its `nbf` and
 * strictly before its `exp`. After that the wrapped verifier checks the
 * token again and applies its own clock tolerance. A rejection is shared
 * only by the requests that waited for the same verification and is then
 * dropped, so a bad token costs a full verification each time it is sent
 * again, as it does without the cache.
 *
 * A token is looked up only in its canonical spelling (see jws-spelling.ts),
 * because padding or changed unused bits would make one signed token many
 * entries. Other spellings are rejected before the lookup.
 *
 * Revocation is not the cache's concern: the gateway checks the grant or
 * client behind the claims on every request, cached or not.
 */
export class CachingTokenVerifier implements TokenVerifier {
  readonly #inner: TokenVerifier;
  /** Claims of verified tokens. Only a verification that succeeded adds one, so rejected tokens never evict them. */
  readonly #entries: LruCache<string, AccessTokenClaims>;
  /** Running verifications, shared by every request that presents the token meanwhile. The requests in flight bound their number. */
  readonly #pending = new Map<string, Promise<AccessTokenClaims>>();
  readonly #keySet: () => object | undefined;
  readonly #now: () => number;
  readonly #spelling: CompactJwsSpelling;
  #cachedKeySet: object | undefined;

  constructor(inner: TokenVerifier, options: VerifiedTokenCacheOptions) {
    this.#inner = inner;
    this.#spelling = new CompactJwsSpelling(options.algorithms ?? []);
    this.#entries = new LruCache(options.maxEntries);
    this.#keySet = options.keySet;
    this.#now = options.now ?? (() => Date.now() / 1000);
  }

  /** Number of tokens currently cached or being verified. */
  get size(): number {
    return this.#entries.size + this.#pending.size;
  }

  verify(token: string): Pending<AccessTokenClaims> {
    const spellingReason = this.#spelling.reason(token, 'the access token');
    if (spellingReason !== undefined) {
      throw new InvalidAccessTokenError(spellingReason);
    }

    if (!this.#followKeySet()) {
      return this.#inner.verify(token);
    }

    const key = hash('sha256', token, 'base64url');
    const cached = this.#entries.get(key);
    if (cached !== undefined) {
      if (this.#isServable(cached)) {
        return cached;
      }
      this.#entries.delete(key);
    }

    return this.#pending.get(key) ?? this.#verifyAndKeep(key, token);
  }

  /**
   * Verifies a token that is not cached. The running verification is
   * shared, so concurrent requests with one token (a client with several
   * connections sends them) cost one verification in all. Its claims are
   * kept only when the key set did not change meanwhile.
   */
  #verifyAndKeep(key: string, token: string): Promise<AccessTokenClaims> {
    const pending = Promise.resolve(this.#inner.verify(token)).then(
      (claims) => {
        if (this.#pending.get(key) === pending && this.#isServable(claims)) {
          this.#entries.set(key, claims);
        }
        this.#deletePending(key, pending);
        return claims;
      },
      (error: unknown) => {
        this.#deletePending(key, pending);
        throw error;
      },
    );
    this.#pending.set(key, pending);
    return pending;
  }

  #deletePending(key: string, pending: Promise<AccessTokenClaims>): void {
    if (this.#pending.get(key) === pending) {
      this.#pending.delete(key);
    }
  }

  /**
   * Empties the cache when the key set changed. Returns false while there is
   * no key set, when nothing may be served or kept.
   */
  #followKeySet(): boolean {
    const keySet = this.#keySet();
    if (keySet !== this.#cachedKeySet) {
      this.#entries.clear();
      this.#pending.clear();
      this.#cachedKeySet = keySet;
    }
    return keySet !== undefined;
  }

  #isServable(claims: AccessTokenClaims): boolean {
    const now = this.#now();
    return now < claims.expiresAt && (claims.notBefore === undefined || now >= claims.notBefore);
  }
}
