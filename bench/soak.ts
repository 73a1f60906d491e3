/**
 * Runs Portcullis under steady load at half its measured maximum throughput
 * and samples its resident set size, to show whether memory stays flat.
 *
 * Usage: npm run bench:soak [-- --minutes 10 --connections 50 --tokens 100
 *                               --sample-seconds 10 --output BENCHMARKS.md]
 *
 * The load rotates through `--tokens` access tokens, so the token cache
 * and the revocation check cache see many entries, not one. The reference
 * is the median sample of the second fifth of the run, once the caches and
 * V8's heap have grown to their working size. The run is flat when the
 * median sample of the last fifth is within 5 % of the reference. Single
 * samples would not do: under load, the resident set moves by up to 20 %
 * between two samples as V8 collects garbage.
 */
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';

import { selectLoadGenerator, type LoadResult } from './lib/load.js';
import { buildPortcullis, obtainCredentials, startBenchPortcullis } from './lib/portcullis.js';
import { log, positiveInteger, readCommandLine, runBenchmarkCommand } from './lib/command.js';
import { canPinCores, startProcess, waitForPort } from './lib/processes.js';
import { median, replaceSection } from './lib/report.js';
import { BENCH_ORIGIN } from './lib/server-env.js';

const HELP = `Usage: npm run bench:soak [-- options]

  --minutes <n>         length of the steady load, in minutes (default 10)
  --connections <n>     open connections of the load generator (default 50)
  --tokens <n>          distinct access tokens sent in turn (default 100)
  --sample-seconds <n>  interval between memory samples, in seconds (default 10)
  --output <file>       markdown file whose "## Memory soak" section is replaced (default BENCHMARKS.md)
`;

const SECTION_HEADING = '## Memory soak';
const REPOSITORY_ROOT = resolve(import.meta.dirname, '..');
const START_TIMEOUT_MS = 60_000;
/** Length of the full-speed measurement that sets the soak rate, in seconds. */
const MAXIMUM_PROBE_SECONDS = 10;
/** Unmeasured full-speed load before the probe, so that every token is verified and cached first, in seconds. */
const WARMUP_SECONDS = 5;
/** Largest change of the median resident set, from the reference window to the end window, that counts as flat, in percent. */
const FLAT_WITHIN_PERCENT = 5;

interface Options {
  minutes: number;
  connections: number;
  tokens: number;
  sampleSeconds: number;
  output: string;
}

function readOptions(): Options {
  const values = readCommandLine(
    HELP,
    {
      minutes: { type: 'string', default: '10' },
      connections: { type: 'string', default: '50' },
      tokens: { type: 'string', default: '100' },
      'sample-seconds': { type: 'string', default: '10' },
    },
    join(REPOSITORY_ROOT, 'BENCHMARKS.md'),
  );
  return {
    minutes: positiveInteger('minutes', values.minutes, 1),
    connections: positiveInteger('connections', values.connections, 1),
    tokens: positiveInteger('tokens', values.tokens, 1),
    sampleSeconds: positiveInteger('sample-seconds', values['sample-seconds'], 1),
    output: resolve(values.output),
  };
}

function mebibytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

interface Sample {
  seconds: number;
  rss: number;
}

async function soak(options: Options, directory: string): Promise<void> {
  const pin = canPinCores();
  const cores = pin ? { load: 0, servers: 1 } : { load: undefined, servers: undefined };
  const generator = selectLoadGenerator();

  log('building Portcullis (npm run build)');
  await buildPortcullis(REPOSITORY_ROOT);
  const upstream = startProcess({
    name: 'upstream',
    command: process.execPath,
    args: ['--import', 'tsx', join(REPOSITORY_ROOT, 'bench/servers/upstream.ts')],
    env: { ...process.env, NODE_ENV: 'production' },
    core: cores.servers,
  });
  const upstreamUrl = `http://127.0.0.1:${await waitForPort(upstream, START_TIMEOUT_MS)}`;

  const dataDir = join(directory, 'data');
  const portcullis = await startBenchPortcullis({
    variant: { name: 'soak', store: 'memory', redisUrl: 'redis://127.0.0.1:6379', tokenCache: true, validateRequests: true, identityAssertion: true, checkResponses: true },
    cores: cores.servers,
    directory,
    dataDir,
    upstreamUrl,
    profileDirectory: undefined,
    startTimeoutMs: START_TIMEOUT_MS,
  });
  const idleRss = portcullis.residentSetSize();
  log(`idle resident set: ${mebibytes(idleRss)}; obtaining ${options.tokens} access tokens`);
  const credentials = await obtainCredentials(portcullis.issuer, dataDir, options.tokens);

  const request = {
    url: `${portcullis.url}/api/orders`,
    headers: { origin: BENCH_ORIGIN, authorization: `Bearer ${credentials.accessToken}` },
    rotatingHeaders: credentials.rotatingTokens.map((token) => ({ origin: BENCH_ORIGIN, authorization: `Bearer ${token}` })),
    connections: options.connections,
    core: cores.load,
  };
  await generator.run({ ...request, seconds: WARMUP_SECONDS });
  const maximum = await generator.run({ ...request, seconds: MAXIMUM_PROBE_SECONDS });
  const rate = Math.max(1, Math.round(maximum.requestsPerSecond / 2));
  log(`maximum ${maximum.requestsPerSecond.toFixed(0)} requests/s; soaking at ${rate} requests/s for ${options.minutes} min`);

  const loadBefore = loadavg()[0]!.toFixed(2);
  const started = Date.now();
  const samples: Sample[] = [];
  const timer = setInterval(() => {
    samples.push({ seconds: Math.round((Date.now() - started) / 1000), rss: portcullis.residentSetSize() });
    const last = samples.at(-1)!;
    log(`${last.seconds} s: ${mebibytes(last.rss)}`);
  }, options.sampleSeconds * 1000);
  let result: LoadResult;
  try {
    result = await generator.run({ ...request, seconds: options.minutes * 60, overallRate: rate });
  } finally {
    clearInterval(timer);
  }
  samples.push({ seconds: Math.round((Date.now() - started) / 1000), rss: portcullis.residentSetSize() });

  const fifth = (options.minutes * 60) / 5;
  const reference = windowMedian(samples, fifth, 2 * fifth);
  const final = windowMedian(samples, 4 * fifth, Number.POSITIVE_INFINITY);
  const last = samples.at(-1)!;
  const peak = Math.max(...samples.map((sample) => sample.rss));
  const growth = ((final.rss - reference.rss) / reference.rss) * 100;
  const verdict = Math.abs(growth) <= FLAT_WITHIN_PERCENT ? 'flat' : 'not flat';

  const command = `npm run bench:soak${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const section = [
    SECTION_HEADING,
    '',
    `Command: \`${command}\`, measured ${new Date().toISOString().slice(0, 10)}.`,
    `Portcullis (memory rate limit, token cache on, from \`dist/\`) served \`GET /api/orders\` with ${options.tokens} access tokens in turn`,
    `over ${options.connections} connections at ${rate} requests/s, half of the ${maximum.requestsPerSecond.toFixed(0)} requests/s it served at full speed,`,
    `for ${options.minutes} min. Machine: ${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), Node.js ${process.version}, ${generator.description};`,
    `load average (1 min) ${loadBefore} at the start of the soak.`,
    '',
    '| measurement | value |',
    '| --- | ---: |',
    `| resident set, idle after start | ${mebibytes(idleRss)} |`,
    `| median resident set from ${reference.from} s to ${reference.to} s (reference) | ${mebibytes(reference.rss)} |`,
    `| median resident set from ${final.from} s to ${final.to} s (end) | ${mebibytes(final.rss)} |`,
    `| resident set at ${last.seconds} s (last sample) | ${mebibytes(last.rss)} |`,
    `| peak resident set | ${mebibytes(peak)} |`,
    `| growth from reference to end | ${growth.toFixed(1)} % (${verdict}: the target is within ${FLAT_WITHIN_PERCENT} %) |`,
    `| requests/s served during the soak | ${result.requestsPerSecond.toFixed(0)} |`,
    `| p99 latency during the soak | ${result.p99Ms.toFixed(2)} ms |`,
    `| non-2xx responses, socket errors | ${result.non2xx}, ${result.socketErrors} |`,
  ].join('\n');
  process.stdout.write(`\n${section}\n`);
  await replaceSection(options.output, SECTION_HEADING, section);
  log(`wrote the "${SECTION_HEADING}" section of ${options.output}`);
}

/** Returns the median resident set of the samples taken from `from` seconds up to `to`, and the window they span. */
function windowMedian(samples: readonly Sample[], from: number, to: number): { rss: number; from: number; to: number } {
  const inWindow = samples.filter((sample) => sample.seconds >= from && sample.seconds < to);
  const window = inWindow.length > 0 ? inWindow : [samples.at(-1)!];
  return { rss: median(window.map((sample) => sample.rss)), from: window[0]!.seconds, to: window.at(-1)!.seconds };
}

void runBenchmarkCommand('soak', readOptions, soak);
