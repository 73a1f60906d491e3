/**
 * Measures the idle resident set size (RSS) of `portcullis start` as
 * `npm start` runs it: `node dist/cli/main.js start` with the default
 * configuration (SQLite, memory rate-limit store, demo upstream), a fresh
 * temporary data directory per run, on 127.0.0.1 with a free port. Each run
 * waits until the server logs that it listens, waits the settle time with no
 * traffic, reads VmRSS from /proc/<pid>/status and stops the process.
 *
 * It builds nothing: run `npm run build` first.
 *
 * Usage: npm run bench:memory [-- --runs 3 --settle-ms 3000 --breakdown --modules --node-option=--flag]
 *   --breakdown      also print process.memoryUsage() and the V8 heap spaces (through a preloaded probe)
 *   --modules        also count the loaded modules per package (adds a module hooks thread, so its RSS is higher)
 *   --node-option    a Node.js option put before dist/cli/main.js; repeatable
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { freePort } from '../test/support/server.js';

const REPOSITORY_ROOT = resolve(import.meta.dirname, '..');
const PROBE = join(REPOSITORY_ROOT, 'scripts/lib/memory-probe.mjs');
const MIB = 1024 * 1024;
/** How long a start may take before the run fails, in milliseconds. */
const START_TIMEOUT_MS = 30_000;
/** How long the probe gets to write its file after SIGUSR2, in milliseconds. */
const PROBE_WAIT_MS = 1000;

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    'settle-ms': { type: 'string', default: '3000' },
    breakdown: { type: 'boolean', default: false },
    modules: { type: 'boolean', default: false },
    'node-option': { type: 'string', multiple: true, default: [] },
  },
});
const runs = Number(values.runs);
const settleMs = Number(values['settle-ms']);
const withProbe = values.breakdown || values.modules;

/** Memory figures of /proc/<pid>/status in bytes, and its thread count. */
interface ProcessStatus {
  VmRSS: number;
  RssAnon: number;
  RssFile: number;
  RssShmem: number;
  VmHWM: number;
  Threads: number;
}

interface ProbeReport {
  memoryUsage: NodeJS.MemoryUsage;
  heapStatistics: Record<string, number>;
  heapSpaces: { space_name: string; space_size: number; space_used_size: number }[];
  esModules: string[];
  commonJsFiles: string[];
}

interface RunResult {
  status: ProcessStatus;
  probe: ProbeReport | undefined;
}

async function readStatus(pid: number): Promise<ProcessStatus> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string, unit: number) => {
    const value = new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1];
    if (value === undefined) {
      throw new Error(`/proc/${pid}/status has no ${name} line`);
    }
    return Number(value) * unit;
  };
  return {
    VmRSS: field('VmRSS', 1024),
    RssAnon: field('RssAnon', 1024),
    RssFile: field('RssFile', 1024),
    RssShmem: field('RssShmem', 1024),
    VmHWM: field('VmHWM', 1024),
    Threads: field('Threads', 1),
  };
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** Starts Portcullis in a fresh data directory, measures it once idle and stops it. */
async function measureOnce(): Promise<RunResult> {
  const directory = await mkdtemp(join(tmpdir(), 'portcullis-idle-memory-'));
  const probeFile = join(directory, 'probe.json');
  const probeArgs = withProbe ? ['--import', PROBE] : [];
  const child = spawn(process.execPath, [...values['node-option'], ...probeArgs, join(REPOSITORY_ROOT, 'dist/cli/main.js'), 'start'], {
    cwd: directory,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      PORTCULLIS_DATA_DIR: join(directory, 'data'),
      PORTCULLIS_PORT: String(await freePort()),
      PORTCULLIS_HOST: '127.0.0.1',
      PORTCULLIS_MEMORY_PROBE_FILE: probeFile,
      PORTCULLIS_MEMORY_PROBE_MODULES: values.modules ? '1' : '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()));

  try {
    await new Promise<void>((listening, failed) => {
      const timer = setTimeout(() => failed(new Error(`timed out: Portcullis logged no 'authorization server listening' line within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      child.once('exit', (code, signal) => failed(new Error(`portcullis exited with ${signal ?? `code ${code}`} before listening:\n${output.join('')}`)));
      createInterface({ input: child.stdout }).on('line', (line) => {
        output.push(`${line}\n`);
        if (line.includes('"authorization server listening"')) {
          clearTimeout(timer);
          listening();
        }
      });
    });
    await sleep(settleMs);
    const status = await readStatus(child.pid as number);

    let probe: ProbeReport | undefined;
    if (withProbe) {
      child.kill('SIGUSR2');
      await sleep(PROBE_WAIT_MS);
      probe = JSON.parse(await readFile(probeFile, 'utf8')) as ProbeReport;
    }
    return { status, probe };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGTERM');
      await exited;
    }
    await rm(directory, { recursive: true, force: true });
  }
}

const mib = (bytes: number) => `${(bytes / MIB).toFixed(1)} MiB`;

function median(numbers: number[]): number {
  const sorted = [...numbers].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Package name of a loaded file under node_modules, or `portcullis` / `node:` for the rest. */
function packageOf(fileOrUrl: string): string {
  if (fileOrUrl.startsWith('node:')) {
    return 'node: built-ins';
  }
  const path = fileOrUrl.startsWith('file:') ? fileURLToPath(fileOrUrl) : fileOrUrl;
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*node_modules\/)/.exec(path);
  return match?.[1] ?? (path.startsWith(REPOSITORY_ROOT) ? 'portcullis' : path);
}

async function printModules(probe: ProbeReport): Promise<void> {
  const files = new Set<string>([...probe.commonJsFiles, ...probe.esModules.map((url) => (url.startsWith('file:') ? fileURLToPath(url) : url))]);
  const perPackage = new Map<string, { files: number; bytes: number }>();
  for (const file of files) {
    const name = packageOf(file);
    const entry = perPackage.get(name) ?? { files: 0, bytes: 0 };
    entry.files += 1;
    entry.bytes += file.startsWith('/') ? (await stat(file).catch(() => ({ size: 0 }))).size : 0;
    perPackage.set(name, entry);
  }
  const rows = [...perPackage.entries()].sort((a, b) => b[1].bytes - a[1].bytes);
  console.log(`\nloaded modules: ${files.size} files from ${perPackage.size} packages (source size on disk)`);
  for (const [name, entry] of rows) {
    console.log(`  ${name.padEnd(40)} ${String(entry.files).padStart(4)} files ${(entry.bytes / 1024).toFixed(0).padStart(6)} KiB`);
  }
}

function printBreakdown(probe: ProbeReport): void {
  const usage = probe.memoryUsage;
  console.log('\nprocess.memoryUsage() of the median run:');
  console.log(`  rss ${mib(usage.rss)}, heapTotal ${mib(usage.heapTotal)}, heapUsed ${mib(usage.heapUsed)}, external ${mib(usage.external)}, arrayBuffers ${mib(usage.arrayBuffers)}`);
  console.log(`  V8 malloced memory ${mib(probe.heapStatistics['malloced_memory'] ?? 0)}, peak ${mib(probe.heapStatistics['peak_malloced_memory'] ?? 0)}`);
  console.log('V8 heap spaces (size / used):');
  for (const space of probe.heapSpaces) {
    console.log(`  ${space.space_name.padEnd(28)} ${mib(space.space_size).padStart(10)} / ${mib(space.space_used_size).padStart(10)}`);
  }
}

const results: RunResult[] = [];
for (let run = 1; run <= runs; run += 1) {
  const result = await measureOnce();
  const { status } = result;
  console.log(
    `run ${run}: VmRSS ${mib(status.VmRSS)} (anonymous ${mib(status.RssAnon)}, file ${mib(status.RssFile)}, shared memory ${mib(status.RssShmem)}), ` +
      `peak ${mib(status.VmHWM)}, ${status.Threads} threads`,
  );
  results.push(result);
}

const medianRss = median(results.map((result) => result.status.VmRSS));
console.log(`median idle VmRSS after ${settleMs} ms over ${runs} runs: ${mib(medianRss)}${values['node-option'].length > 0 ? ` (node ${values['node-option'].join(' ')})` : ''}`);

const medianRun = [...results].sort((a, b) => a.status.VmRSS - b.status.VmRSS)[Math.floor(results.length / 2)];
if (medianRun?.probe !== undefined) {
  printBreakdown(medianRun.probe);
  if (values.modules) {
    await printModules(medianRun.probe);
  }
}
