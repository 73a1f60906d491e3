/**
 * Load generation with wrk, or with autocannon when wrk is not installed,
 * and parsing of their results into one shape.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { pinned } from './processes.js';

export interface LoadResult {
  /** Responses received during the measurement. */
  requests: number;
  requestsPerSecond: number;
  /** Median latency, in milliseconds. */
  p50Ms: number;
  /** 99th percentile latency, in milliseconds. */
  p99Ms: number;
  /** Responses with a status other than 2xx or 3xx. */
  non2xx: number;
  /** Connection errors and timeouts. */
  socketErrors: number;
}

export interface LoadRequest {
  url: string;
  headers: Record<string, string>;
  /** Header sets that each connection sends in turn instead of `headers`, such as one per access token. */
  rotatingHeaders?: Record<string, string>[];
  /** Requests per second over all connections; the most the server takes when undefined. */
  overallRate?: number;
  seconds: number;
  connections: number;
  /** Core that the load generator is pinned to, or undefined for no pinning. */
  core: number | undefined;
}

export interface LoadGenerator {
  /** Name and version, for the record of the run. */
  description: string;
  run(request: LoadRequest): Promise<LoadResult>;
}

/** Runs a command to completion with a hard deadline and returns its standard output. */
function runBounded(command: string, args: string[], deadlineMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) {
        resolve(stdout);
      } else {
        reject(new Error(`${command} ${args.join(' ')} failed with ${signal ?? `code ${code}`}:\n${stderr}${stdout}`));
      }
    });
  });
}

const WRK_DURATION_UNITS_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/** Converts a wrk duration such as `812.00us`, `1.23ms` or `2.01s` to milliseconds. */
export function parseWrkDuration(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (match === null) {
    throw new Error(`unexpected wrk duration '${text}'`);
  }
  return Number(match[1]) * WRK_DURATION_UNITS_MS[match[2]!]!;
}

/** Extracts requests per second, latency percentiles and error counts from wrk's `--latency` report. */
export function parseWrkReport(report: string): LoadResult {
  const requests = /(\d+) requests in /.exec(report)?.[1];
  const requestsPerSecond = /Requests\/sec:\s+([\d.]+)/.exec(report)?.[1];
  const p50 = /^\s+50%\s+(\S+)/m.exec(report)?.[1];
  const p99 = /^\s+99%\s+(\S+)/m.exec(report)?.[1];
  if (requests === undefined || requestsPerSecond === undefined || p50 === undefined || p99 === undefined) {
    throw new Error(`wrk report without requests, requests/s or latency distribution:\n${report}`);
  }

  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(report);
  return {
    requests: Number(requests),
    requestsPerSecond: Number(requestsPerSecond),
    p50Ms: parseWrkDuration(p50),
    p99Ms: parseWrkDuration(p99),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(report)?.[1] ?? 0),
    socketErrors: socketErrors === null ? 0 : socketErrors.slice(1).reduce((sum, count) => sum + Number(count), 0),
  };
}

/**
 * wrk with one thread: the load generator gets one core, so more threads
 * would only contend. Rotating headers and a fixed rate need autocannon.
 */
function wrkGenerator(version: string, fallback: LoadGenerator): LoadGenerator {
  return {
    description: `${version} (${fallback.description} for rotating credentials and fixed rates)`,
    async run(request) {
      if (request.rotatingHeaders !== undefined || request.overallRate !== undefined) {
        return fallback.run(request);
      }
      const headerArgs = Object.entries(request.headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
      const wrkArgs = ['-t1', `-c${request.connections}`, `-d${request.seconds}s`, '--latency', ...headerArgs, request.url];
      const [command, args] = pinned(request.core, 'wrk', wrkArgs);
      return parseWrkReport(await runBounded(command, args, (request.seconds + 30) * 1000));
    },
  };
}

interface AutocannonJson {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}

const AUTOCANNON_RUNNER = join(import.meta.dirname, 'autocannon-runner.mjs');

/**
 * Runs autocannon through its API in a child process, which can be pinned
 * to a core, from a specification file: the header sets of a rotating
 * scenario are too many for a command line.
 */
async function runAutocannon(request: LoadRequest): Promise<LoadResult> {
  const directory = await mkdtemp(join(tmpdir(), 'portcullis-load-'));
  try {
    const specPath = join(directory, 'spec.json');
    const spec = {
      url: request.url,
      connections: request.connections,
      seconds: request.seconds,
      headerSets: request.rotatingHeaders ?? [request.headers],
      overallRate: request.overallRate,
    };
    await writeFile(specPath, JSON.stringify(spec));

    const [command, args] = pinned(request.core, process.execPath, [AUTOCANNON_RUNNER, specPath]);
    const report = JSON.parse(await runBounded(command, args, (request.seconds + 30) * 1000)) as AutocannonJson;
    return {
      requests: report.requests.total,
      requestsPerSecond: report.requests.average,
      p50Ms: report.latency.p50,
      p99Ms: report.latency.p99,
      non2xx: report.non2xx,
      socketErrors: report.errors + report.timeouts,
    };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

function autocannonGenerator(version: string): LoadGenerator {
  return { description: `autocannon ${version}`, run: runAutocannon };
}

/** Picks wrk when it is on the PATH, otherwise the autocannon dev dependency. */
export function selectLoadGenerator(): LoadGenerator {
  const require = createRequire(import.meta.url);
  const { version } = require('autocannon/package.json') as { version: string };
  const autocannon = autocannonGenerator(version);

  const wrk = spawnSync('wrk', ['-v'], { encoding: 'utf8' });
  if (wrk.error === undefined) {
    const wrkVersion = /^wrk \S+/m.exec(`${wrk.stdout}${wrk.stderr}`)?.[0] ?? 'wrk';
    return wrkGenerator(wrkVersion, autocannon);
  }
  return autocannon;
}
