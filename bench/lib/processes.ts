/**
 * Child processes of the benchmark: started pinned to a CPU core when
 * taskset works, tracked so that every one of them is stopped on exit, on
 * failure and on SIGINT or SIGTERM.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';

/** Lines of a child's output kept for error messages. */
const KEPT_OUTPUT_LINES = 40;
/** How long a stopped child gets to exit after SIGTERM before SIGKILL, in milliseconds. */
const STOP_GRACE_MS = 3000;

export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  /** The last lines the child wrote to standard output and standard error. */
  recentOutput: string[];
  /** Emits `line` for each line of standard output. */
  stdoutLines: EventEmitter;
}

const running = new Set<ManagedProcess>();

/** Tells whether `taskset` can pin processes to cores 0 and 1 on this machine. */
export function canPinCores(): boolean {
  const result = spawnSync('taskset', ['-c', '1', 'true'], { stdio: 'ignore' });
  return result.status === 0;
}

/** Returns the command line that runs `command` on `core`, or unchanged when `core` is undefined. */
export function pinned(core: number | undefined, command: string, args: string[]): [string, string[]] {
  return core === undefined ? [command, args] : ['taskset', ['-c', String(core), command, ...args]];
}

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  core: number | undefined;
  /** File that receives every line of the child's output, or undefined for none. */
  logFile?: string;
}

/** Starts a child process and records it for `stopAll`. */
export function startProcess(options: StartOptions): ManagedProcess {
  const [command, args] = pinned(options.core, options.command, options.args);
  const child = spawn(command, args, { env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const managed: ManagedProcess = { name: options.name, child, recentOutput: [], stdoutLines: new EventEmitter() };
  running.add(managed);
  child.once('exit', () => running.delete(managed));

  const log = options.logFile === undefined ? undefined : createWriteStream(options.logFile, { flags: 'a' });
  child.once('exit', () => log?.end());
  const keep = (line: string) => {
    log?.write(`${line}\n`);
    managed.recentOutput.push(line);
    if (managed.recentOutput.length > KEPT_OUTPUT_LINES) {
      managed.recentOutput.shift();
    }
  };
  createInterface({ input: child.stdout! }).on('line', (line) => {
    keep(line);
    managed.stdoutLines.emit('line', line);
  });
  createInterface({ input: child.stderr! }).on('line', keep);
  return managed;
}

/**
 * Waits for the `{"listening": port}` line that the benchmark servers print
 * on standard output and returns the port. Rejects when the child exits or
 * `timeoutMs` passes first.
 */
export function waitForPort(managed: ManagedProcess, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const fail = (reason: string) => {
      clearTimeout(timer);
      managed.stdoutLines.off('line', onLine);
      reject(new Error(`${managed.name} ${reason}; its last output:\n${managed.recentOutput.join('\n')}`));
    };
    const timer = setTimeout(() => fail(`did not start listening within ${timeoutMs} ms`), timeoutMs);
    managed.child.once('exit', (code, signal) => fail(`exited with ${signal ?? `code ${code}`} before listening`));
    const onLine = (line: string) => {
      if (!line.startsWith('{"listening":')) {
        return;
      }
      clearTimeout(timer);
      managed.stdoutLines.off('line', onLine);
      resolve((JSON.parse(line) as { listening: number }).listening);
    };
    managed.stdoutLines.on('line', onLine);
  });
}

/** Polls `url` until it responds with any HTTP status, for servers that log instead of printing a port line. */
export async function waitForHttp(managed: ManagedProcess, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (managed.child.exitCode !== null || managed.child.signalCode !== null) {
      throw new Error(`${managed.name} exited before responding at ${url}; its last output:\n${managed.recentOutput.join('\n')}`);
    }
    try {
      await fetch(url, { signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  throw new Error(`${managed.name} did not respond at ${url} within ${timeoutMs} ms; its last output:\n${managed.recentOutput.join('\n')}`);
}

async function stop(managed: ManagedProcess): Promise<void> {
  const { child } = managed;
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

/** Stops every child that is still running: SIGTERM first, SIGKILL after a grace period. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((managed) => stop(managed)));
}
