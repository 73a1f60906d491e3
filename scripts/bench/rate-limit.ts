/**
 * Measures rate-limit decisions per second: Portcullis's memory and Redis
 * stores side by side with rate-limiter-flexible on the same store and keys.
 *
 * Usage: npm run bench:ratelimit [-- --seconds 3 --redis redis://127.0.0.1:6379]
 * Every scenario runs for a bounded time. Limits are set high enough that no
 * decision is a denial, so every scenario does the same work.
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';

import { MemoryRateLimitStore } from '../../src/core/rate-limit/memory-store.js';
import { RedisRateLimitStore } from '../../src/core/rate-limit/redis-store.js';
import type { LimitCheck } from '../../src/core/rate-limit/types.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    concurrency: { type: 'string', default: '64' },
  },
});

const SECONDS = Number(values.seconds);
const CONCURRENCY = Number(values.concurrency);
const KEY_COUNT = 1000;
const LIMIT = 1_000_000_000;

const keys = Array.from({ length: KEY_COUNT }, (_unused, index) => `bench-${process.pid}-${index}`);
const checks: LimitCheck[] = keys.map((key) => ({
  policy: 'bench',
  kind: 'rate',
  subject: 'client address',
  key: `${key}|bench`,
  rate: { limit: LIMIT, periodMs: 1000, burst: LIMIT },
  onStoreFailure: 'open',
}));

interface Result {
  scenario: string;
  decisions: number;
  perSecond: number;
  nanosecondsEach: number;
}

function report(scenario: string, decisions: number, elapsedNs: bigint): Result {
  const seconds = Number(elapsedNs) / 1e9;
  return { scenario, decisions, perSecond: decisions / seconds, nanosecondsEach: Number(elapsedNs) / decisions };
}

/** Runs a synchronous decision in a tight loop for the bounded time. */
function runSync(scenario: string, decideOne: (index: number) => void): Result {
  const deadline = process.hrtime.bigint() + BigInt(SECONDS * 1e9);
  const start = process.hrtime.bigint();
  let count = 0;
  while (process.hrtime.bigint() < deadline) {
    for (let batch = 0; batch < 1000; batch += 1) {
      decideOne(count % KEY_COUNT);
      count += 1;
    }
  }
  return report(scenario, count, process.hrtime.bigint() - start);
}

/** Keeps `CONCURRENCY` asynchronous decisions in flight for the bounded time. */
async function runAsync(scenario: string, decideOne: (index: number) => Promise<unknown>): Promise<Result> {
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(SECONDS * 1e9);
  let count = 0;

  async function worker(): Promise<void> {
    while (process.hrtime.bigint() < deadline) {
      const index = count % KEY_COUNT;
      count += 1;
      await decideOne(index);
    }
  }

  await Promise.all(Array.from({ length: CONCURRENCY }, () => worker()));
  return report(scenario, count, process.hrtime.bigint() - start);
}

async function main(): Promise<void> {
  const results: Result[] = [];

  const memory = new MemoryRateLimitStore(KEY_COUNT * 2);
  results.push(runSync('Portcullis memory store (synchronous call)', (index) => memory.consumeSync([checks[index]!])));
  results.push(await runAsync('Portcullis memory store (async call)', (index) => memory.consume([checks[index]!])));

  const flexibleMemory = new RateLimiterMemory({ points: LIMIT, duration: 1 });
  results.push(await runAsync('rate-limiter-flexible RateLimiterMemory', (index) => flexibleMemory.consume(keys[index]!)));

  // Each client is set up as its limiter uses it. The Portcullis store puts
  // one consumer's checks from one event-loop turn into one script call
  // itself, and rate-limiter-flexible leaves batching to ioredis's
  // automatic pipelining.
  const ours = new Redis(values.redis);
  const theirs = new Redis(values.redis, { enableAutoPipelining: true });
  await ours.ping();
  const redisStore = new RedisRateLimitStore(ours);
  results.push(await runAsync('Portcullis Redis store', (index) => redisStore.consume([checks[index]!])));

  const flexibleRedis = new RateLimiterRedis({ storeClient: theirs, points: LIMIT, duration: 1, keyPrefix: `bench-${process.pid}` });
  results.push(await runAsync('rate-limiter-flexible RateLimiterRedis', (index) => flexibleRedis.consume(keys[index]!)));

  ours.disconnect();
  theirs.disconnect();

  const format = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  process.stdout.write(`Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node.js ${process.version}\n`);
  process.stdout.write(`Each scenario ${SECONDS} s, ${KEY_COUNT} keys, ${CONCURRENCY} decisions in flight for async scenarios.\n\n`);
  process.stdout.write('| scenario | decisions/s | ns per decision |\n| --- | ---: | ---: |\n');
  for (const result of results) {
    process.stdout.write(`| ${result.scenario} | ${format.format(result.perSecond)} | ${format.format(result.nanosecondsEach)} |\n`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`benchmark failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
