import type { Cluster, Redis } from 'ioredis';

import type { FailureCount, LimitCheck, LimitResult, RateLimitDecision, RateLimitStore } from './types.js';

/**
 * GCRA over several counters in one atomic step, on Redis's clock.
 *
 * KEYS: the counters. ARGV: for each key, its emission interval and its
 * tolerance (interval × burst), in microseconds. Returns one flat list with,
 * per key, allowed (1/0), remaining, retry-after and reset-after in
 * microseconds, preceded by the overall verdict. Counters are charged only
 * when every key allows the request, and each expires when its bucket is
 * full again, so idle keys cost no memory.
 */
const CONSUME_SCRIPT = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local count = #KEYS
local verdict = 1
local results = {}
local tats = {}

for i = 1, count do
  local interval = tonumber(ARGV[i * 2 - 1])
  local tolerance = tonumber(ARGV[i * 2])
  local stored = tonumber(redis.call('GET', KEYS[i]))
  local tat = now
  if stored ~= nil and stored > now then
    tat = stored
  end
  local new_tat = tat + interval
  local allow_at = new_tat - tolerance
  if now < allow_at then
    verdict = 0
    results[#results + 1] = 0
    results[#results + 1] = 0
    results[#results + 1] = allow_at - now
    results[#results + 1] = tat - now
    tats[i] = false
  else
    results[#results + 1] = 1
    results[#results + 1] = math.floor((tolerance - (new_tat - now)) / interval + 0.000001)
    results[#results + 1] = 0
    results[#results + 1] = new_tat - now
    tats[i] = new_tat
  end
end

if verdict == 1 then
  for i = 1, count do
    local ttl = math.max(1, math.ceil((tats[i] - now) / 1000))
    redis.call('SET', KEYS[i], string.format('%.0f', tats[i]), 'PX', ttl)
  end
end

table.insert(results, 1, verdict)
return results
`;

/** Adds one failure and restarts the counter's expiry. */
const FAILURE_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return count
`;

/** The client adds the deployment's `redisKeyPrefix` before this. */
const KEY_PREFIX = 'rl:';

/**
 * Names a counter in Redis. The consumer part sits in a hash tag, so every
 * counter of one consumer (for example its per-second and per-day limits)
 * lands in the same Redis Cluster hash slot and one script can update them
 * together.
 */
export function redisKey(key: string): string {
  const separator = key.lastIndexOf('|');
  const consumer = separator === -1 ? key : key.slice(0, separator);
  const rest = separator === -1 ? '' : key.slice(separator + 1);
  return `${KEY_PREFIX}{${consumer}}${rest}`;
}

function groupByConsumer(checks: readonly LimitCheck[]): LimitCheck[][] {
  const groups = new Map<string, LimitCheck[]>();
  for (const check of checks) {
    const tag = /\{([^}]*)\}/.exec(redisKey(check.key))?.[1] ?? check.key;
    const group = groups.get(tag) ?? [];
    group.push(check);
    groups.set(tag, group);
  }
  return [...groups.values()];
}

/**
 * Rate-limit counters in Redis, shared by every gateway instance.
 *
 * Each consumer's checks are decided by one script call. The calls for the
 * consumers of one request are issued together, so a client with
 * auto-pipelining sends them in one round trip.
 */
export class RedisRateLimitStore implements RateLimitStore {
  readonly #redis: Redis | Cluster;

  constructor(redis: Redis | Cluster) {
    this.#redis = redis;
    this.#redis.defineCommand('portcullisConsume', { lua: CONSUME_SCRIPT });
    this.#redis.defineCommand('portcullisFailure', { numberOfKeys: 1, lua: FAILURE_SCRIPT });
  }

  async consume(checks: readonly LimitCheck[]): Promise<RateLimitDecision> {
    const groups = groupByConsumer(checks);
    const command = (this.#redis as unknown as Record<string, (...values: unknown[]) => Promise<unknown>>)['portcullisConsume'];

    // One call per consumer, issued in the same tick: auto-pipelining sends
    // them in one round trip to a single server, and a cluster client sends
    // each to the node of its consumer's hash slot.
    const calls = groups.map((group) => {
      const keys = group.map((check) => redisKey(check.key));
      const args = group.flatMap((check) => {
        const interval = (check.rate.periodMs * 1000) / check.rate.limit;
        return [interval, interval * check.rate.burst];
      });
      return command!.call(this.#redis, keys.length, ...keys, ...args);
    });
    const replies = await Promise.allSettled(calls);
    const results: LimitResult[] = [];

    groups.forEach((group, index) => {
      const reply = replies[index];
      if (reply === undefined || reply.status === 'rejected') {
        throw reply?.reason ?? new Error('missing Redis reply');
      }

      const values = reply.value as number[];
      group.forEach((check, position) => {
        const offset = 1 + position * 4;
        results.push({
          check,
          allowed: values[offset] === 1,
          remaining: Number(values[offset + 1]),
          retryAfterMs: Math.ceil(Number(values[offset + 2]) / 1000),
          resetAfterMs: Math.ceil(Number(values[offset + 3]) / 1000),
        });
      });
    });

    return { allowed: results.every((result) => result.allowed), results };
  }

  async recordFailure(key: string, windowMs: number): Promise<number> {
    const command = (this.#redis as unknown as Record<string, (key: string, windowMs: number) => Promise<number>>)['portcullisFailure'];
    return Number(await command?.call(this.#redis, redisKey(key), windowMs));
  }

  async failures(key: string, windowMs: number): Promise<FailureCount> {
    const name = redisKey(key);
    const [[countError, count] = [null, null], [ttlError, ttl] = [null, -2]] = (await this.#redis.multi().get(name).pttl(name).exec()) ?? [];
    if (countError !== null || ttlError !== null) {
      throw countError ?? ttlError;
    }

    const remainingMs = Number(ttl);
    return {
      count: Number(count ?? 0),
      lastFailureAgoMs: remainingMs > 0 ? Math.max(0, windowMs - remainingMs) : 0,
    };
  }

  async resetFailures(key: string): Promise<void> {
    await this.#redis.del(redisKey(key));
  }

  ping(): Promise<unknown> {
    return this.#redis.ping();
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }
}
