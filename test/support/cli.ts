import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the portcullis CLI from source with `args`, writing `input` to its standard input. */
export async function runCli(args: string[], input = '', env: Record<string, string> = {}): Promise<CliResult> {
  return runScript('src/cli/main.ts', args, input, env);
}

/** Runs a TypeScript file of the repository, such as `scripts/demo.ts`, with `args`, writing `input` to its standard input. */
export async function runScript(script: string, args: string[], input = '', env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

/**
 * Creates a store with one account in a new temporary data directory,
 * applies `damage` to the file `fileName` there and runs `users list` on
 * it. Returns the path of the damaged file and the result. The directory
 * is removed afterwards.
 */
export async function listUsersAfterDamage(fileName: string, damage: (path: string) => Promise<unknown>): Promise<{ path: string; result: CliResult }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'portcullis-damaged-'));
  try {
    const added = await runCli(['users', 'add', 'store_owner', '--email', 'store_owner@example.com', '--data-dir', dataDir], 'Store-Owner-Passw0rd\n');
    if (added.code !== 0) {
      throw new Error(`users add failed: ${added.stderr}`);
    }
    const path = join(dataDir, fileName);
    await damage(path);
    return { path, result: await runCli(['users', 'list', '--data-dir', dataDir]) };
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Replaces the file at `path` with an empty directory of that name. */
export async function replaceWithDirectory(path: string): Promise<void> {
  await rm(path);
  await mkdir(path);
}
