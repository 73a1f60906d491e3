/**
 * Helpers shared by the benchmark commands: option parsing and a run that
 * stops every child process and deletes its temporary directory on exit,
 * on failure and on SIGINT or SIGTERM.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { stopAll } from './processes.js';

/** Parses `--name`'s value as a whole number of at least `minimum`, or throws naming the option. */
export function positiveInteger(name: string, value: string, minimum: number): number {
  if (!/^\d+$/.test(value) || Number(value) < minimum) {
    throw new Error(`--${name} must be a whole number of at least ${minimum}, got '${value}'`);
  }
  return Number(value);
}

export function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

/**
 * Reads the options, then runs `body` with them and a fresh temporary
 * directory, then stops the child processes and deletes the directory. A
 * failure is printed after `name` and sets the exit code.
 */
export async function runBenchmarkCommand<T>(name: string, readOptions: () => T, body: (options: T, directory: string) => Promise<void>): Promise<void> {
  let options: T;
  try {
    options = readOptions();
  } catch (error) {
    process.stderr.write(`${name} failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
    return;
  }

  const directory = await mkdtemp(join(tmpdir(), `portcullis-${name}-`));
  let cleaned = false;
  const cleanUp = async () => {
    if (!cleaned) {
      cleaned = true;
      await stopAll();
      await rm(directory, { recursive: true, force: true });
    }
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`received ${signal}, stopping the servers`);
      cleanUp().finally(() => process.exit(130));
    });
  }

  try {
    await body(options, directory);
  } catch (error) {
    process.stderr.write(`${name} failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  } finally {
    await cleanUp();
  }
}

type StringOptions = Record<string, { type: 'string'; default?: string }>;

/**
 * Parses the command line into string values, with `--help` printing
 * `help` and exiting, and `--output` defaulting to `defaultOutput`.
 */
export function readCommandLine<T extends StringOptions>(help: string, options: T, defaultOutput: string): { [K in keyof T]: T[K]['default'] extends string ? string : string | undefined } & { output: string } {
  const { values } = parseArgs({
    options: { ...options, output: { type: 'string', default: defaultOutput }, help: { type: 'boolean', default: false } },
  }) as { values: Record<string, string | boolean | undefined> };
  if (values['help'] === true) {
    process.stdout.write(help);
    process.exit(0);
  }
  return values as never;
}
