/**
 * Measures Ed25519 signatures per second with libsodium (sodium-native) and
 * node:crypto, through the keys the gateway signs identity assertions with,
 * and prints a Markdown table.
 *
 * Usage: npm run bench:signing [-- --seconds 2 --bytes 600]
 * Each implementation signs the same message for a bounded time, in turn,
 * for three rounds after a warm-up. The table shows the median round.
 * Pin it to one core to compare with the gateway benchmark:
 * `taskset -c 1 npm run bench:signing`.
 */
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';

import { ed25519KeyFromSeed, type Ed25519Implementation } from '../../src/core/ed25519.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '2' },
    bytes: { type: 'string', default: '600' },
  },
});

/** Reads a positive number option, or exits with a message that names the value. */
function positiveNumber(name: string, value: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) {
    process.stderr.write(`--${name} must be a positive number, got '${value}'\n`);
    process.exit(2);
  }
  return parsed;
}

const SECONDS = positiveNumber('seconds', values.seconds);
const MESSAGE_BYTES = Math.ceil(positiveNumber('bytes', values.bytes));
const ROUNDS = 3;
const WARMUP_SIGNATURES = 2000;
/** Signatures between two reads of the clock. */
const BATCH = 200;

/** Signs for `seconds` and returns the signatures per second. */
function signaturesPerSecond(sign: () => void, seconds: number): number {
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(Math.round(seconds * 1e9));
  let signatures = 0;
  let now = started;

  while (now < deadline) {
    for (let index = 0; index < BATCH; index += 1) {
      sign();
    }
    signatures += BATCH;
    now = process.hrtime.bigint();
  }

  return signatures / (Number(now - started) / 1e9);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const seed = randomBytes(32);
const message = randomBytes(MESSAGE_BYTES);
const implementations: Ed25519Implementation[] = ['libsodium', 'node:crypto'];
const keys = implementations.map((implementation) => ed25519KeyFromSeed(seed, implementation));
const rounds = new Map<Ed25519Implementation, number[]>(implementations.map((implementation) => [implementation, []]));

for (const key of keys) {
  for (let index = 0; index < WARMUP_SIGNATURES; index += 1) {
    key.sign(message);
  }
}
for (let round = 0; round < ROUNDS; round += 1) {
  for (const key of keys) {
    rounds.get(key.implementation)!.push(signaturesPerSecond(() => key.sign(message), SECONDS));
  }
}

process.stdout.write(`Machine: ${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), Node.js ${process.version}, OpenSSL ${process.versions.openssl}.\n`);
process.stdout.write(`Ed25519 signatures of a ${MESSAGE_BYTES}-byte message, median of ${ROUNDS} rounds of ${SECONDS} s.\n\n`);
process.stdout.write('| implementation | signatures/s | µs per signature |\n| --- | ---: | ---: |\n');
for (const implementation of implementations) {
  const perSecond = median(rounds.get(implementation)!);
  process.stdout.write(`| ${implementation} | ${Math.round(perSecond).toLocaleString('en-US')} | ${(1e6 / perSecond).toFixed(1)} |\n`);
}
