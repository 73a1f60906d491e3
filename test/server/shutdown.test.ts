import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { writeConfigFile } from '../support/config-file.js';
import { freePort, startTestServer, type TestServer } from '../support/server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A request whose body stops after its first bytes, as from a client on a stalled network. */
interface StalledRequest {
  socket: Socket;
  /** Everything the server sent, once it closed the connection. */
  response: Promise<string>;
  /** Sends the rest of the body. */
  finish(): void;
}

function stalledRequest(url: string): Promise<StalledRequest> {
  const { hostname, port, host } = new URL(url);
  const body = 'username=late_user&email=late%40example.com&password=Late-Passw0rd-1';
  const head = `POST /register HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n`;

  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(head + body.slice(0, 10));
      let received = '';
      socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
      const response = new Promise<string>((done) => socket.on('close', () => done(received)));
      socket.on('error', () => undefined);
      resolve({ socket, response, finish: () => socket.write(body.slice(10)) });
    });
    socket.once('error', reject);
  });
}

/**
 * Resolves once `server` has read the head of its next request. The server
 * counts a request as running from then on, so a shutdown started later
 * finds it.
 */
function nextRequestHead(server: TestServer): Promise<void> {
  return new Promise((resolve) => server.running.app.server.once('request', () => setImmediate(resolve)));
}

function statusOf(response: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);
}

function headerOf(response: string, name: string): string | undefined {
  const head = response.split('\r\n\r\n')[0] ?? '';
  const line = head.split('\r\n').find((candidate) => candidate.toLowerCase().startsWith(`${name}:`));
  return line?.slice(name.length + 1).trim();
}

describe('shutdown', () => {
  let server: TestServer | undefined;

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('lets a running request finish', async () => {
    // A registration can take seconds on a loaded machine, so the timeout is
    // well above the bound below, which a close at the timeout would exceed.
    server = await startTestServer({ config: await writeConfigFile({ shutdownTimeoutMs: 20_000 }) });
    const admitted = nextRequestHead(server);
    const stalled = await stalledRequest(server.url);
    await admitted;

    const started = Date.now();
    const closing = server.running.close();
    stalled.finish();
    const response = await stalled.response;
    const report = await closing;
    server = undefined;

    expect(statusOf(response)).not.toBe(503);
    expect(statusOf(response)).toBeGreaterThan(0);
    expect(headerOf(response, 'connection')).toBe('close');
    expect(report.endedRequests).toBe(0);
    // The idle connection closed with its response, not at the timeout.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('answers a request finished after the start with 503', async () => {
    server = await startTestServer({ config: await writeConfigFile({ shutdownTimeoutMs: 5000 }) });
    const { hostname, port, host } = new URL(server.url);
    const accepted = new Promise<Socket>((resolve) => server?.running.app.server.once('connection', resolve));
    const late = await new Promise<Socket>((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => resolve(socket));
      socket.once('error', reject);
    });
    let received = '';
    late.on('data', (chunk: Buffer) => (received += chunk.toString()));
    const closed = new Promise<void>((resolve) => late.on('close', () => resolve()));

    // A connection that has sent part of a request head is not idle, so the shutdown leaves it open.
    const partialHead = `GET /healthz HTTP/1.1\r\nHost: ${host}\r\n`;
    late.write(partialHead);
    const serverSide = await accepted;
    await vi.waitFor(() => expect(serverSide.bytesRead).toBe(partialHead.length), { timeout: 5000, interval: 10 });
    const closing = server.running.close();
    late.write('\r\n');
    await closed;

    expect(statusOf(received)).toBe(503);
    expect(headerOf(received, 'connection')).toBe('close');
    expect(headerOf(received, 'retry-after')).toBe('1');
    expect(headerOf(received, 'content-type')).toBe('application/problem+json; charset=utf-8');
    expect((await closing).endedRequests).toBe(0);
    server = undefined;
  });

  it('closes an idle kept-alive connection at once', async () => {
    server = await startTestServer({ config: await writeConfigFile({ shutdownTimeoutMs: 5000 }) });
    const admitted = nextRequestHead(server);
    const stalled = await stalledRequest(server.url);
    await admitted;
    const response = await fetch(`${server.url}/healthz`);
    expect(response.status).toBe(200);
    expect(response.headers.get('connection')).not.toBe('close');
    const { hostname, port, host } = new URL(server.url);
    const idle = await new Promise<Socket>((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => resolve(socket));
      socket.once('error', reject);
    });
    idle.write(`GET /healthz HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    let received = '';
    idle.on('data', (chunk: Buffer) => (received += chunk.toString()));
    await vi.waitFor(() => expect(received).toContain('\r\n\r\n'), { timeout: 5000, interval: 20 });
    const closed = new Promise<number>((resolve) => idle.on('close', () => resolve(Date.now())));

    const started = Date.now();
    const closing = server.running.close();

    // The stalled request keeps the server open, but the idle connection goes within the sweep interval.
    expect((await closed) - started).toBeLessThan(2000);
    stalled.finish();
    await stalled.response;
    await closing;
    server = undefined;
  });

  it('answers a stalled request with 503 at the timeout', async () => {
    server = await startTestServer({ config: await writeConfigFile({ shutdownTimeoutMs: 300 }) });
    const logs = server.logs;
    const admitted = nextRequestHead(server);
    const stalled = await stalledRequest(server.url);
    await admitted;

    const started = Date.now();
    const report = await server.running.close();
    const response = await stalled.response;
    server = undefined;

    expect(Date.now() - started).toBeLessThan(5000);
    expect(report.endedRequests).toBe(1);
    expect(statusOf(response)).toBe(503);
    expect(headerOf(response, 'content-type')).toBe('application/problem+json; charset=utf-8');
    expect(headerOf(response, 'retry-after')).toBe('1');
    expect(headerOf(response, 'connection')).toBe('close');
    expect(headerOf(response, 'x-content-type-options')).toBe('nosniff');
    expect(response).toContain('shutting down');
    expect(logs.some((line) => line.includes('shutdown timed out'))).toBe(true);
  });
});

/** Starts `portcullis start` from source and resolves once it listens. */
async function startCli(args: string[]): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));

  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (output.includes('authorization server listening')) {
        clearInterval(timer);
        resolve();
      } else if (child.exitCode !== null) {
        clearInterval(timer);
        reject(new Error(`portcullis start exited with ${child.exitCode}:\n${output}`));
      }
    }, 100);
  });
  return { child, output: () => output };
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

describe('portcullis start on a stop signal', () => {
  // Each start is a new Node.js process compiling TypeScript, several seconds on a busy machine.
  const TIMEOUT = 60_000;
  let dataDir: string;
  let child: ChildProcess | undefined;

  afterEach(async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
    }
    child = undefined;
    await rm(dataDir, { recursive: true, force: true });
  });

  it(
    'exits with 0 when idle',
    async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'portcullis-stop-'));
      const port = await freePort();
      const started = await startCli(['--port', String(port), '--data-dir', dataDir]);
      child = started.child;

      const exited = exitOf(child);
      child.kill('SIGTERM');

      expect(await exited).toEqual({ code: 0, signal: null });
      expect(started.output()).toContain('"msg":"stopped"');
    },
    TIMEOUT,
  );

  it(
    'answers a stalled request on a second signal',
    async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'portcullis-stop-'));
      const port = await freePort();
      const config = await writeConfigFile({ shutdownTimeoutMs: 600_000 });
      // At debug level the server logs each request once it has read the head.
      const started = await startCli(['--port', String(port), '--data-dir', dataDir, '--config', config, '--log-level', 'debug']);
      child = started.child;
      const stalled = await stalledRequest(`http://127.0.0.1:${port}`);
      const headRead = () => started.output().split('\n').some((line) => line.includes('"msg":"incoming request"') && line.includes('"/register"'));
      await vi.waitFor(() => expect(headRead()).toBe(true), { timeout: 10_000, interval: 20 });

      const exited = exitOf(child);
      child.kill('SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(child.exitCode).toBeNull();
      child.kill('SIGTERM');

      expect(await exited).toEqual({ code: 1, signal: null });
      expect(statusOf(await stalled.response)).toBe(503);
      expect(started.output()).toContain('second stop signal');
    },
    TIMEOUT,
  );
});
