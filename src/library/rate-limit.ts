import type { LimitKeyPart, LimitRule } from '../config/schema.js';
import { parseDuration } from '../core/duration.js';
import type { Identity } from '../core/identity-headers.js';
import { maxLimitForPeriod } from '../core/rate-limit/gcra.js';
import { RateLimiter } from '../core/rate-limit/limiter.js';
import { MemoryRateLimitStore } from '../core/rate-limit/memory-store.js';
import type { LimitCheck, RateLimitStore } from '../core/rate-limit/types.js';
import { buildCheck, chargeLimits, type LimitOutcome } from '../http/rate-limit.js';

export type { LimitRule };

/** Rate limits of a service: the limiter and the limits every authenticated request is charged. */
export interface RateLimitSettings {
  limiter: RateLimiter;
  /** Limits charged on every request after authentication, so keys may use `sub`, `client_id` and `api_key`. */
  limits: readonly LimitRule[];
  /** IPv6 client addresses are counted per prefix of this length. Default 64. */
  ipv6PrefixLength?: number;
}

export interface RateLimiterSettings {
  /** Counter store. Default: in memory, at most 100,000 keys, least recently used evicted. */
  store?: RateLimitStore;
  /** Maximum wait for the store before each limit's failure mode applies, in milliseconds. Default 200. */
  timeoutMs?: number;
  /** Called at most every 30 seconds while the store fails. Default: a process warning. */
  onStoreFailure?: (error: Error, failuresSinceLastWarning: number) => void;
}

const DEFAULT_MEMORY_MAX_KEYS = 100_000;
const DEFAULT_STORE_TIMEOUT_MS = 200;
const STORE_WARNING_INTERVAL_MS = 30_000;
const DEFAULT_IPV6_PREFIX_LENGTH = 64;
/** Shortest IPv6 prefix that counts as one client, as in the gateway's `rateLimit.ipv6PrefixLength`. */
const MIN_IPV6_PREFIX_LENGTH = 32;

/** Largest store timeout, in milliseconds, as in the gateway's `rateLimit.storeTimeoutMs`. */
const MAX_STORE_TIMEOUT_MS = 60_000;

/** Creates a rate limiter over `settings.store`, or over a memory store. Throws a RangeError for an invalid setting. */
export function createRateLimiter(settings: RateLimiterSettings = {}): RateLimiter {
  const timeoutMs: unknown = settings.timeoutMs ?? DEFAULT_STORE_TIMEOUT_MS;
  if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_STORE_TIMEOUT_MS) {
    throw new RangeError(`timeoutMs must be a whole number of milliseconds from 1 to ${MAX_STORE_TIMEOUT_MS}, got ${JSON.stringify(timeoutMs)}.`);
  }
  if (settings.store !== undefined && typeof (settings.store as Partial<RateLimitStore>).consume !== 'function') {
    throw new RangeError('store must be a rate limit store such as new RedisRateLimitStore(redis), or left out for the memory store.');
  }
  const onStoreFailure =
    settings.onStoreFailure ??
    ((error: Error, count: number) => process.emitWarning(`Rate-limit store failed ${count} times: ${error.message}`));

  return new RateLimiter(settings.store ?? new MemoryRateLimitStore(DEFAULT_MEMORY_MAX_KEYS), {
    timeoutMs,
    warnIntervalMs: STORE_WARNING_INTERVAL_MS,
    onStoreFailure,
  });
}

/**
 * Limit names as the gateway configuration allows them. A name is written
 * into the RateLimit header fields as a quoted string, where a quote would
 * corrupt the field, and Node.js rejects a header value with a line break,
 * which would fail every response of the route.
 */
const LIMIT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

const KEY_PARTS: readonly LimitKeyPart[] = ['ip', 'sub', 'client_id', 'api_key'];

/** Checks a limit's name, numbers and period once, at start; throws a RangeError naming the limit. */
export function validateLimitRule(rule: LimitRule): void {
  if (typeof rule.name !== 'string' || !LIMIT_NAME.test(rule.name)) {
    throw new RangeError(`Invalid rate limit ${JSON.stringify(rule.name)}: it needs a name of 1 to 64 letters, digits, \`_\`, \`.\` or \`-\`.`);
  }
  if (!Number.isInteger(rule.limit) || rule.limit < 1) {
    throw new RangeError(`Invalid rate limit '${rule.name}': it needs a limit that is a whole number of at least 1.`);
  }
  if (rule.burst !== undefined && (!Number.isInteger(rule.burst) || rule.burst < 1)) {
    throw new RangeError(`Invalid rate limit '${rule.name}': burst must be a whole number of at least 1.`);
  }
  // A key part the limiter does not know is never present on a request, so
  // a limit with a misspelled part, or a key given as text, would never apply.
  if (!Array.isArray(rule.key) || rule.key.length === 0 || !rule.key.every((part) => KEY_PARTS.includes(part))) {
    throw new RangeError(
      `Invalid rate limit '${rule.name}': key must be a list of one or more of ${KEY_PARTS.join(', ')}, such as ['sub'], got ${JSON.stringify(rule.key)}.`,
    );
  }
  // Any other value would make the limit fail closed when the store fails, whatever was meant.
  if (rule.onStoreFailure !== 'open' && rule.onStoreFailure !== 'closed') {
    throw new RangeError(`Invalid rate limit '${rule.name}': onStoreFailure must be 'open' or 'closed', got ${JSON.stringify(rule.onStoreFailure) ?? 'undefined'}.`);
  }
  let periodMs: number;
  try {
    periodMs = parseDuration(rule.period);
  } catch (error) {
    throw new RangeError(`Invalid rate limit '${rule.name}': ${(error as Error).message}.`);
  }
  const maxLimit = maxLimitForPeriod(periodMs);
  if (rule.limit > maxLimit) {
    throw new RangeError(`Invalid rate limit '${rule.name}': the limit must be at most ${maxLimit} for a period of ${rule.period}, one request per microsecond.`);
  }
}

/**
 * Checks every limit of one list with {@link validateLimitRule}, and that
 * no two share a name. A counter key is the consumer, the limit's name and
 * the scope, so two limits with one name would write one counter with
 * different rates.
 */
export function validateLimitRules(rules: readonly LimitRule[]): void {
  const names = new Set<string>();
  for (const rule of rules) {
    validateLimitRule(rule);
    if (names.has(rule.name)) {
      throw new RangeError(`Invalid rate limit '${rule.name}': two limits are named '${rule.name}'; give each limit of a list a name of its own.`);
    }
    names.add(rule.name);
  }
}

/**
 * Checks the service-wide rate limit settings once, at start, since a
 * missing limiter or list of limits would fail every request with a 500.
 */
export function validateRateLimitSettings(settings: RateLimitSettings): void {
  const { limiter, limits, ipv6PrefixLength } = settings as Partial<Record<keyof RateLimitSettings, unknown>>;
  if (typeof (limiter as Partial<RateLimiter> | undefined)?.consume !== 'function') {
    throw new RangeError('rateLimit.limiter must be a rate limiter from createRateLimiter(), such as { limiter: createRateLimiter(), limits: [...] }.');
  }
  if (!Array.isArray(limits)) {
    throw new RangeError(`rateLimit.limits must be a list of rate limits, such as [{ name: 'per-user', key: ['sub'], limit: 20, period: '1s', onStoreFailure: 'open' }], got ${JSON.stringify(limits) ?? 'undefined'}.`);
  }
  const prefixLength = ipv6PrefixLength ?? DEFAULT_IPV6_PREFIX_LENGTH;
  if (typeof prefixLength !== 'number' || !Number.isInteger(prefixLength) || prefixLength < MIN_IPV6_PREFIX_LENGTH || prefixLength > 128) {
    throw new RangeError(`rateLimit.ipv6PrefixLength must be a whole number from ${MIN_IPV6_PREFIX_LENGTH} to 128, got ${JSON.stringify(ipv6PrefixLength)}.`);
  }
  validateLimitRules(limits as LimitRule[]);
}

/**
 * Returns the scope of a route's counters: its method and its path
 * pattern. Express and Fastify serve HEAD with the GET route's handler,
 * so HEAD counts as GET, and alternating the two cannot double a limit.
 */
export function routeScope(method: string, pattern: string): string {
  return `${method === 'HEAD' ? 'GET' : method} ${pattern}`;
}

/**
 * Charges a request's limits: the service-wide ones and the route's own,
 * keyed by `scope` (the route template, never the raw path).
 */
export async function chargeRequest(
  settings: RateLimitSettings,
  routeLimits: readonly LimitRule[],
  request: { ip: string; identity: Identity },
  scope: string,
): Promise<LimitOutcome> {
  const context = {
    request: { ip: request.ip },
    identity: request.identity,
    ipv6PrefixLength: settings.ipv6PrefixLength ?? DEFAULT_IPV6_PREFIX_LENGTH,
  };
  const checks = [
    ...settings.limits.map((rule) => buildCheck(rule, context, 'rate', 'service')),
    ...routeLimits.map((rule) => buildCheck(rule, context, 'rate', scope)),
  ];

  return chargeLimits(settings.limiter, checks.filter((check): check is LimitCheck => check !== undefined));
}
