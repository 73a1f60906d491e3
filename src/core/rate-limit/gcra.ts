/**
 * The generic cell rate algorithm (GCRA), a token bucket kept as one number.
 *
 * A limit of `limit` requests per `periodMs` admits one request every
 * emission interval T = periodMs / limit on average, and up to `burst`
 * requests at once. The only state per key is the theoretical arrival time
 * (TAT) of the next request. There is no window, so no window boundary
 * can let twice the limit through.
 *
 * The arithmetic runs in whole microseconds. With a fractional interval
 * (1000 ms / 3), sums of floating-point intervals drift by a fraction of a
 * microsecond, and the last request of a burst then landed just past the
 * tolerance and was denied. Whole numbers below 2^53 add up exactly.
 */

/** A rate: `limit` requests per `periodMs`, with up to `burst` at once. */
export interface Rate {
  limit: number;
  periodMs: number;
  burst: number;
}

export interface GcraDecision {
  allowed: boolean;
  /** The TAT to store, in epoch milliseconds; unchanged when the request is denied. */
  tat: number;
  /** Requests that could still be made right now. */
  remaining: number;
  /** Milliseconds until a denied request could succeed; 0 when allowed. */
  retryAfterMs: number;
  /** Milliseconds until the bucket is full again. */
  resetAfterMs: number;
}

/**
 * Returns the largest limit the arithmetic can hold for a period of
 * `periodMs`: one request per microsecond, because it counts time in whole
 * microseconds and cannot space requests closer than that.
 */
export function maxLimitForPeriod(periodMs: number): number {
  return periodMs * 1000;
}

/**
 * Returns the microseconds between two requests at the sustained rate,
 * rounded up to a whole microsecond so that the rate never exceeds the
 * limit, and at least 1. The configuration and the library reject limits
 * above {@link maxLimitForPeriod}.
 */
export function emissionIntervalUs(rate: Readonly<Rate>): number {
  return Math.max(1, Math.ceil((rate.periodMs * 1000) / rate.limit));
}

/**
 * Decides one request of `cost` units at time `now` (epoch milliseconds)
 * against the stored TAT (undefined for a key never seen or expired).
 */
export function decide(rate: Readonly<Rate>, storedTat: number | undefined, now: number, cost = 1): GcraDecision {
  const interval = emissionIntervalUs(rate);
  const tolerance = interval * rate.burst;
  const nowUs = Math.round(now * 1000);
  // A TAT goes through milliseconds between calls, which rounding back recovers exactly.
  const tat = Math.max(storedTat === undefined ? nowUs : Math.round(storedTat * 1000), nowUs);
  const newTat = tat + interval * cost;
  const allowAt = newTat - tolerance;

  if (nowUs < allowAt) {
    return {
      allowed: false,
      tat: tat / 1000,
      remaining: 0,
      retryAfterMs: Math.ceil((allowAt - nowUs) / 1000),
      resetAfterMs: Math.ceil((tat - nowUs) / 1000),
    };
  }

  return {
    allowed: true,
    tat: newTat / 1000,
    remaining: Math.floor((tolerance - (newTat - nowUs)) / interval),
    retryAfterMs: 0,
    resetAfterMs: Math.ceil((newTat - nowUs) / 1000),
  };
}
