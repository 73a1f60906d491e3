import type { Rate } from './gcra.js';

/** Failure mode of a limit when the counter store cannot be reached: `open` admits, `closed` denies. */
export type StoreFailureMode = 'open' | 'closed';

/** One limit to check, on one counter. */
export interface LimitCheck {
  /** Policy name, shown in the RateLimit header fields. */
  policy: string;
  /** `rate` for request rates, `quota` for business-flow quotas; the 429 message differs. */
  kind: 'rate' | 'quota';
  /** Noun for what the counter counts, used in messages, for example `client address` or `user`. */
  subject: string;
  /** Counter key; checks with the same key share one counter. */
  key: string;
  /** A frozen object that all checks of one rule and route share. */
  rate: Readonly<Rate>;
  onStoreFailure: StoreFailureMode;
}

/** The outcome of one check. */
export interface LimitResult {
  check: LimitCheck;
  allowed: boolean;
  remaining: number;
  retryAfterMs: number;
  resetAfterMs: number;
}

/**
 * The outcome of all checks of one request. The request is admitted only
 * when every check allows it, and a denied request costs nothing: a store
 * that charges one consumer's counters at a time refunds them.
 */
export interface RateLimitDecision {
  allowed: boolean;
  results: LimitResult[];
  /** Set when the store failed and the checks were decided by their failure mode. */
  storeFailure?: Error;
}

export interface FailureCount {
  count: number;
  /** Milliseconds since the last failure; meaningless when `count` is 0. */
  lastFailureAgoMs: number;
}

/**
 * The caller's verdict on a request whose decision the store had not
 * returned in time. A plain object, because an AbortController per request
 * would cost more than the decision on the limiter's hot path.
 */
export interface LateDecision {
  rejected: boolean;
}

/** Counter storage for the limiter: in memory, or shared through Redis. */
export interface RateLimitStore {
  /**
   * Decides all checks of one request; for the same key, decisions are
   * atomic. When the caller sets `late.rejected`, it rejected the request
   * without waiting for the decision, so a store that decides it later
   * takes back what it charged.
   */
  consume(checks: readonly LimitCheck[], late?: LateDecision): Promise<RateLimitDecision>;
  /** Decides like `consume` without waiting, in stores whose counters live in this process. */
  consumeSync?(checks: readonly LimitCheck[]): RateLimitDecision;
  /** Adds one failure to a counter that expires `windowMs` after the last failure; returns the new count. */
  recordFailure(key: string, windowMs: number): Promise<number>;
  /** Returns a key's failure count and how long ago the last failure was, in milliseconds. */
  failures(key: string, windowMs: number): Promise<FailureCount>;
  /** Forgets a key's failures. */
  resetFailures(key: string): Promise<void>;
  /** Resolves when a store outside this process responds. Stores in this process have no ping. */
  ping?(): Promise<unknown>;
  close(): Promise<void>;
}
