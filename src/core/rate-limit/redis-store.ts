import type { Cluster, Redis } from 'ioredis';

import { emissionIntervalUs } from './gcra.js';
import type { FailureCount, LateDecision, LimitCheck, LimitResult, RateLimitDecision, RateLimitStore } from './types.js';

/**
 * GCRA over the counters of several decisions, in one atomic step on
 * Redis's clock. The decisions run in order, so a later one reads what an
 * earlier one charged, as if each were its own script call.
 *
 * KEYS: the counters of every decision, decision after decision. ARGV: the
 * number of decisions, then for each its number of counters followed by,
 * per counter, its emission interval and its tolerance (interval × burst),
 * in whole microseconds, so that all arithmetic stays exact. Returns one
 * flat list with, per decision, its verdict (1/0) followed by, per counter,
 * allowed (1/0), remaining, retry-after and reset-after in microseconds.
 * A decision charges its counters only when every one of them allows the
 * request, and each counter expires when its bucket is full again, so idle
 * keys cost no memory.
 */
const CONSUME_SCRIPT = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local results = {}
local next_key = 1
local next_arg = 2

for _ = 1, tonumber(ARGV[1]) do
  local count = tonumber(ARGV[next_arg])
  next_arg = next_arg + 1
  local verdict_at = #results + 1
  local verdict = 1
  local tats = {}
  results[verdict_at] = 0

  for i = 1, count do
    local interval = tonumber(ARGV[next_arg])
    local tolerance = tonumber(ARGV[next_arg + 1])
    next_arg = next_arg + 2
    local stored = tonumber(redis.call('GET', KEYS[next_key + i - 1]))
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
      results[#results + 1] = math.floor((tolerance - (new_tat - now)) / interval)
      results[#results + 1] = 0
      results[#results + 1] = new_tat - now
      tats[i] = new_tat
    end
  end

  if verdict == 1 then
    for i = 1, count do
      local ttl = math.max(1, math.ceil((tats[i] - now) / 1000))
      redis.call('SET', KEYS[next_key + i - 1], string.format('%.0f', tats[i]), 'PX', ttl)
    end
  end
  results[verdict_at] = verdict
  next_key = next_key + count
end

return results
`;

/** Adds one failure and restarts the counter's expiry. */
const FAILURE_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return count
`;

/**
 * Takes back the charge of one request from counters, on Redis's clock.
 *
 * KEYS: the counters. ARGV: each counter's emission interval, in
 * microseconds. A charge moved a counter's theoretical arrival time one
 * interval later, so the refund moves it one interval earlier. Charges
 * made since then stay, and a counter that would be full again is
 * deleted.
 */
const REFUND_SCRIPT = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])

for i = 1, #KEYS do
  local stored = tonumber(redis.call('GET', KEYS[i]))
  if stored ~= nil then
    local tat = stored - tonumber(ARGV[i])
    if tat > now then
      redis.call('SET', KEYS[i], string.format('%.0f', tat), 'PX', math.max(1, math.ceil((tat - now) / 1000)))
    else
      redis.call('DEL', KEYS[i])
    end
  end
end

return #KEYS
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
  const rest = separator === -1 ? '' : key.slice(separator + 1);
  return `${KEY_PREFIX}{${consumerOf(key)}}${rest}`;
}

/** Returns the consumer part of a counter key, which becomes its hash tag. */
function consumerOf(key: string): string {
  const separator = key.lastIndexOf('|');
  return separator === -1 ? key : key.slice(0, separator);
}

/** Groups checks by consumer, in the order the consumers first appear. */
function groupByConsumer(checks: readonly LimitCheck[]): Map<string, LimitCheck[]> {
  const groups = new Map<string, LimitCheck[]>();
  for (const check of checks) {
    const consumer = consumerOf(check.key);
    const group = groups.get(consumer);
    if (group === undefined) {
      groups.set(consumer, [check]);
    } else {
      group.push(check);
    }
  }
  return groups;
}

/** Maximum number of decisions in one script call. Further decisions go in further calls. */
const MAX_DECISIONS_PER_CALL = 100;

type ConsumeCommand = (numberOfKeys: number, ...values: (string | number)[]) => Promise<unknown>;

/** A request whose consumers wait for their script calls. */
interface WaitingRequest {
  /** The results of each consumer's checks, in the order of the consumers. */
  parts: LimitResult[][];
  waiting: number;
  failed: boolean;
  /** Marked when the caller refused the request without the decision. */
  late: LateDecision | undefined;
  resolve: (decision: RateLimitDecision) => void;
  reject: (error: unknown) => void;
}

/** The checks of one consumer of a request, queued for the next script call of that consumer. */
interface QueuedChecks {
  checks: readonly LimitCheck[];
  request: WaitingRequest;
  /** Position of the consumer in the request. */
  part: number;
}

/** Lays out the keys and arguments of `decisions` as the consume script reads them. */
function scriptInput(decisions: readonly (readonly LimitCheck[])[]): { keys: string[]; args: number[] } {
  const keys: string[] = [];
  const args: number[] = [decisions.length];
  for (const checks of decisions) {
    args.push(checks.length);
    for (const check of checks) {
      const interval = emissionIntervalUs(check.rate);
      keys.push(redisKey(check.key));
      args.push(interval, interval * check.rate.burst);
    }
  }
  return { keys, args };
}

/** Reads the results of each decision from the script's flat reply. */
function readReply(decisions: readonly (readonly LimitCheck[])[], values: readonly unknown[]): LimitResult[][] {
  const expectedLength = decisions.reduce((length, checks) => length + 1 + checks.length * 4, 0);
  if (!Array.isArray(values) || values.length !== expectedLength) {
    throw new Error(`rate-limit script returned an invalid reply: ${Array.isArray(values) ? values.length : 'no'} values, expected ${expectedLength}`);
  }

  let offset = 0;
  return decisions.map((checks) => {
    // Each decision starts with its verdict, which its results repeat, so it is skipped.
    offset += 1;
    return checks.map((check) => {
      const result = {
        check,
        allowed: values[offset] === 1,
        remaining: Number(values[offset + 1]),
        retryAfterMs: Math.ceil(Number(values[offset + 2]) / 1000),
        resetAfterMs: Math.ceil(Number(values[offset + 3]) / 1000),
      };
      offset += 4;
      return result;
    });
  });
}

function decisionOf(results: LimitResult[]): RateLimitDecision {
  return { allowed: results.every((result) => result.allowed), results };
}

/**
 * Rate-limit counters in Redis, shared by every gateway instance.
 *
 * The checks of one consumer, from every request of one turn of the event
 * loop, go to Redis in one script call, which decides them request by
 * request in order. Each request then costs the gateway and Redis a share
 * of a command instead of a command of its own. A call keeps to one
 * consumer, so its keys share one hash slot, as a Redis Cluster and
 * sharding proxies require. A request with several consumers is decided
 * per consumer, and when one of them denies it, the charge on the others
 * is refunded, so a denied request uses up nothing.
 */
export class RedisRateLimitStore implements RateLimitStore {
  readonly #redis: Redis | Cluster;
  readonly #consume: ConsumeCommand;
  readonly #refund: ConsumeCommand;
  /** Checks waiting for the next script calls, by consumer. */
  #queues = new Map<string, QueuedChecks[]>();

  constructor(redis: Redis | Cluster) {
    this.#redis = redis;
    this.#redis.defineCommand('portcullisConsume', { lua: CONSUME_SCRIPT });
    this.#redis.defineCommand('portcullisFailure', { numberOfKeys: 1, lua: FAILURE_SCRIPT });
    this.#redis.defineCommand('portcullisRefund', { lua: REFUND_SCRIPT });
    const commands = this.#redis as unknown as Record<string, ConsumeCommand>;
    this.#consume = commands['portcullisConsume']!;
    this.#refund = commands['portcullisRefund']!;
  }

  consume(checks: readonly LimitCheck[], late?: LateDecision): Promise<RateLimitDecision> {
    if (checks.length === 0) {
      return Promise.resolve({ allowed: true, results: [] });
    }

    return new Promise((resolve, reject) => {
      const groups = groupByConsumer(checks);
      const request: WaitingRequest = { parts: [], waiting: groups.size, failed: false, late, resolve, reject };

      // The checks of requests read in this turn are queued by the time the
      // check phase runs.
      if (this.#queues.size === 0) {
        setImmediate(() => this.#sendQueued());
      }

      let part = 0;
      for (const [consumer, group] of groups) {
        const queue = this.#queues.get(consumer) ?? [];
        queue.push({ checks: group, request, part });
        this.#queues.set(consumer, queue);
        part += 1;
      }
    });
  }

  #sendQueued(): void {
    const queues = this.#queues;
    this.#queues = new Map();

    for (const queue of queues.values()) {
      for (let start = 0; start < queue.length; start += MAX_DECISIONS_PER_CALL) {
        const batch = queue.slice(start, start + MAX_DECISIONS_PER_CALL);
        this.#call(batch.map((queued) => queued.checks)).then(
          (results) => batch.forEach((queued, index) => this.#settle(queued, results[index]!)),
          (error: unknown) => batch.forEach((queued) => this.#fail(queued, error)),
        );
      }
    }
  }

  #settle(queued: QueuedChecks, results: LimitResult[]): void {
    const request = queued.request;
    if (request.failed) {
      // The limiter decided the request by its failure modes when another
      // consumer's call failed, and marked it by now.
      if (request.late?.rejected === true) {
        this.#refundCharged([results]);
      }
      return;
    }

    request.parts[queued.part] = results;
    request.waiting -= 1;
    if (request.waiting > 0) {
      return;
    }

    const decision = decisionOf(request.parts.flat());
    if (!decision.allowed || request.late?.rejected === true) {
      this.#refundCharged(request.parts);
    }
    request.resolve(decision);
  }

  /**
   * Rejects the request at its first failed consumer, as a Redis Cluster
   * with one master down fails the calls of that master's consumers only.
   * The limiter then decides the request by its failure modes. When it
   * refuses the request, the other consumers' charges are refunded, whether
   * their calls settled before the failure or settle after it. When it
   * admits the request, the charges stay.
   */
  #fail(queued: QueuedChecks, error: unknown): void {
    const request = queued.request;
    if (request.failed) {
      return;
    }
    request.failed = true;
    request.reject(error);
    // The limiter marks `late` in a promise callback of this rejection,
    // which has run by the check phase of this turn.
    setImmediate(() => {
      if (request.late?.rejected === true) {
        this.#refundCharged(request.parts.filter((part) => part !== undefined));
      }
    });
  }

  /**
   * Refunds the consumers that admitted a request which another consumer
   * denied, or which the caller refused while the decision was late. A
   * consumer's checks are charged together or not at all, so those whose
   * checks all passed were charged. The refund is sent before the caller
   * learns the decision, so Redis applies it before any later call on the
   * same connection. When it fails, the charge stays, which errs on the
   * side of the limit.
   */
  #refundCharged(parts: readonly LimitResult[][]): void {
    for (const part of parts) {
      if (part.length === 0 || !part.every((result) => result.allowed)) {
        continue;
      }
      // Checks that share a key charged it once, with the last one's interval.
      const intervals = new Map<string, number>();
      for (const { check } of part) {
        intervals.set(redisKey(check.key), emissionIntervalUs(check.rate));
      }
      this.#refund.call(this.#redis, intervals.size, ...intervals.keys(), ...intervals.values()).catch(() => {
        // The charge stays, which errs on the side of the limit.
      });
    }
  }

  async #call(decisions: readonly (readonly LimitCheck[])[]): Promise<LimitResult[][]> {
    const { keys, args } = scriptInput(decisions);
    const values = await this.#consume.call(this.#redis, keys.length, ...keys, ...args);
    return readReply(decisions, values as unknown[]);
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
