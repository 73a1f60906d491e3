import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { freePort } from './server.js';

const run = promisify(execFile);

/** A throw-away Redis Cluster of three masters on loopback ports, run by the test. */
export interface TestRedisCluster {
  ports: number[];
  /** URL of one node, the seed the cluster client starts from. */
  url: string;
  stop(): Promise<void>;
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition().catch(() => false)) {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms`);
}

async function redisCli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 10_000 });
  return stdout;
}

/** Returns whether a loopback listener can bind `port` at this moment. */
async function canListen(port: number): Promise<boolean> {
  const probe = createServer();
  return new Promise((resolve) => {
    probe.once('error', () => resolve(false));
    probe.listen({ host: '127.0.0.1', port, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

/**
 * Starts three `redis-server` processes with cluster mode on free loopback
 * ports and joins them with `redis-cli --cluster create`. Their cluster bus
 * listens on port + 10000, so only ports whose bus port is free at the
 * check are used. Another process can still take either port before the
 * servers bind them, and then the start fails.
 */
export async function startRedisCluster(): Promise<TestRedisCluster> {
  const directory = await mkdtemp(join(tmpdir(), 'portcullis-redis-cluster-'));
  const ports: number[] = [];
  while (ports.length < 3) {
    const port = await freePort();
    if (port + 10_000 <= 65_535 && !ports.includes(port) && (await canListen(port + 10_000))) {
      ports.push(port);
    }
  }

  const processes: ChildProcess[] = ports.map((port) =>
    spawn(
      'redis-server',
      [
        '--port', String(port),
        '--bind', '127.0.0.1',
        '--cluster-enabled', 'yes',
        '--cluster-config-file', join(directory, `nodes-${port}.conf`),
        '--cluster-node-timeout', '2000',
        '--dir', directory,
        '--save', '',
        '--appendonly', 'no',
      ],
      { stdio: 'ignore' },
    ),
  );

  const stop = async () => {
    for (const child of processes) {
      child.kill('SIGTERM');
    }
    await Promise.all(processes.map((child) => (child.exitCode === null ? new Promise((resolve) => child.once('exit', resolve)) : undefined)));
    await rm(directory, { recursive: true, force: true });
  };

  try {
    for (const port of ports) {
      await waitUntil(async () => (await redisCli(port, 'ping')).trim() === 'PONG', 20_000, `redis-server on port ${port} answering`);
    }
    await run('redis-cli', ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-yes'], { timeout: 30_000 });
    for (const port of ports) {
      await waitUntil(async () => (await redisCli(port, 'cluster', 'info')).includes('cluster_state:ok'), 15_000, `cluster state ok on port ${port}`);
    }
  } catch (error) {
    await stop();
    throw error;
  }

  return { ports, url: `redis://127.0.0.1:${ports[0]}`, stop };
}
