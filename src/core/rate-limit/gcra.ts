/**
 * The generic cell rate algorithm (GCRA), a token bucket kept as one number.
 *
 * A limit of `limit` requests per `periodMs` admits one request every
 * emission interval T = periodMs / limit on average, and up to `burst`
 * requests at once. The only state per key is the theoretical arrival time
 * (TAT) of the next request. There is no window, so no window boundary
 * can let twice the limit through.
 */

/** A rate: `limit` requests per `periodMs`, with up to `burst` at once. */
export interface Rate {
  limit: number;
  periodMs: number;
  burst: number;
}

export interface GcraDecision {
  allowed: boolean;
  /** The TAT to store; unchanged when the request is denied. */
  tat: number;
  /** Requests that could still be made right now. */
  remaining: number;
  /** Milliseconds until a denied request could succeed; 0 when allowed. */
  retryAfterMs: number;
  /** Milliseconds until the bucket is full again. */
  resetAfterMs: number;
}

/** Milliseconds between two requests at the sustained rate. */
export function emissionInterval(rate: Rate): number {
  return rate.periodMs / rate.limit;
}

/**
 * Decides one request of `cost` units at time `now` (milliseconds) against
 * the stored TAT (undefined for a key never seen or expired).
 */
export function decide(rate: Rate, storedTat: number | undefined, now: number, cost = 1): GcraDecision {
  const interval = emissionInterval(rate);
  const tolerance = interval * rate.burst;
  const tat = Math.max(storedTat ?? now, now);
  const newTat = tat + interval * cost;
  const allowAt = newTat - tolerance;

  if (now < allowAt) {
    return {
      allowed: false,
      tat,
      remaining: 0,
      retryAfterMs: Math.ceil(allowAt - now),
      resetAfterMs: Math.ceil(tat - now),
    };
  }

  return {
    allowed: true,
    tat: newTat,
    remaining: Math.floor((tolerance - (newTat - now)) / interval + 1e-9),
    retryAfterMs: 0,
    resetAfterMs: Math.ceil(newTat - now),
  };
}
