import type { LimitCheck, LimitResult } from './types.js';

function greatestCommonDivisor(a: number, b: number): number {
  return b === 0 ? a : greatestCommonDivisor(b, a % b);
}

/**
 * Restates `limit` per `periodMs` over the shortest window of whole seconds
 * that contains a whole number of periods, because `w` is an integer number of
 * seconds: 5 per 500 ms is q=10 per w=1, and 3 per 1500 ms is q=6 per w=3.
 */
function wholeSecondWindow(limit: number, periodMs: number): { quota: number; windowSeconds: number } {
  const divisor = greatestCommonDivisor(periodMs, 1000);
  return { quota: (limit * 1000) / divisor, windowSeconds: periodMs / divisor };
}

/**
 * Restates a rate as {@link wholeSecondWindow} does, over a window long
 * enough that `q` is at least the burst. A client may send `burst` requests
 * at once, so `r` can reach `burst - 1`, and a `q` below the burst could be
 * smaller than `r`. 50 per second with a burst of 100 is q=100 per w=2, the
 * same rate.
 */
function policyWindow(rate: LimitCheck['rate']): { quota: number; windowSeconds: number } {
  const { quota, windowSeconds } = wholeSecondWindow(rate.limit, rate.periodMs);
  const factor = Math.max(1, Math.ceil(rate.burst / quota));
  return { quota: quota * factor, windowSeconds: windowSeconds * factor };
}

/**
 * RateLimit-Policy members by rate. The gateway builds each rule's rate
 * once and shares it among the checks of all requests, so the member is
 * built once per rule instead of once per request.
 */
const policyMembers = new WeakMap<LimitCheck['rate'], { policy: string; member: string }>();

function policyMember(check: LimitCheck): string {
  const cached = policyMembers.get(check.rate);
  if (cached !== undefined && cached.policy === check.policy) {
    return cached.member;
  }

  const { quota, windowSeconds } = policyWindow(check.rate);
  const member = `"${check.policy}";q=${quota};w=${windowSeconds}`;
  policyMembers.set(check.rate, { policy: check.policy, member });
  return member;
}

/**
 * Builds the RateLimit-Policy and RateLimit header fields in the format of
 * draft-ietf-httpapi-ratelimit-headers-08 and later: one list member per
 * policy, `q` (quota) and `w` (window, seconds) in the policy, `r`
 * (remaining) and `t` (seconds until the quota is fully restored) in the
 * current state.
 */
export function rateLimitHeaders(results: readonly LimitResult[]): Record<string, string> {
  if (results.length === 0) {
    return {};
  }

  const policies = results.map(({ check }) => policyMember(check));
  const states = results.map(
    (result) => `"${result.check.policy}";r=${Math.max(0, result.remaining)};t=${Math.ceil(result.resetAfterMs / 1000)}`,
  );

  return { 'ratelimit-policy': policies.join(', '), ratelimit: states.join(', ') };
}

/** Seconds to put in Retry-After: the longest wait among the denied checks, at least 1. */
export function retryAfterSeconds(results: readonly LimitResult[]): number {
  const longest = Math.max(0, ...results.filter((result) => !result.allowed).map((result) => result.retryAfterMs));
  return Math.max(1, Math.ceil(longest / 1000));
}
