import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { writeConfigFile } from '../support/config-file.js';
import { listenOnLoopback, loggedHttpApp } from '../support/http-app.js';
import { exchange, lastJsonBody, statusCodes } from '../support/raw-socket.js';
import { startTestServer, type TestServer } from '../support/server.js';

const REQUEST_TIMEOUT_MS = 500;

/** Writes `first`, then the next character of `drip` every 100 ms until the connection closes. */
function trickle(first: string, drip: string): (socket: Socket) => void {
  return (socket) => {
    socket.write(first);
    let index = 0;
    const timer = setInterval(() => {
      if (socket.destroyed || socket.writableEnded) {
        clearInterval(timer);
        return;
      }
      socket.write(drip[index % drip.length] ?? 'x');
      index += 1;
    }, 100);
    socket.on('close', () => clearInterval(timer));
  };
}

describe('request timeout', () => {
  const { app, logs } = loggedHttpApp({ https: false, requestTimeoutMs: REQUEST_TIMEOUT_MS });
  let port: number;

  beforeAll(async () => {
    app.post('/echo', async (request) => request.body);
    port = await listenOnLoopback(app);
  });

  afterAll(async () => {
    await app.close();
  });

  it.each([
    ['slow headers', trickle('POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n', 'X-Padding: a\r\n')],
    ['slow body', trickle('POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"', 'a')],
  ])('answers %s with 408', async (_name, drive) => {
    const { received, closed, elapsedMs } = await exchange(port, drive, 5000);

    expect(statusCodes(received)).toEqual([408]);
    expect(received).toContain('content-type: application/problem+json; charset=utf-8');
    expect(received).toContain('x-content-type-options: nosniff');
    expect(received).toContain("content-security-policy: default-src 'none'");
    expect(lastJsonBody(received)).toMatchObject({ status: 408, code: 'request_timeout' });
    expect(closed).toBe(true);
    // Node.js checks the deadline of every request once a second.
    expect(elapsedMs).toBeLessThan(REQUEST_TIMEOUT_MS + 2500);
  });

  it('closes a client that ignores the close', async () => {
    const drive = trickle('POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n', 'X-Padding: a\r\n');
    const { received, closed, elapsedMs } = await exchange(port, drive, 8000, { allowHalfOpen: true });

    expect(statusCodes(received)).toEqual([408]);
    expect(closed).toBe(true);
    // The deadline check, then the idle check that closes a connection the server has ended.
    expect(elapsedMs).toBeLessThan(REQUEST_TIMEOUT_MS + 5000);
  });

  it('logs the timed-out connection', async () => {
    const before = logs.length;
    await exchange(port, trickle('POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n', 'X-Padding: a\r\n'), 5000);
    const lines = logs.slice(before).map((line) => JSON.parse(line) as { msg: string; remoteAddress?: string; requestTimeoutMs?: number });
    const timeout = lines.find((line) => line.msg.includes('request timeout'));

    expect(timeout).toBeDefined();
    expect(timeout?.remoteAddress).toBe('127.0.0.1');
    expect(timeout?.requestTimeoutMs).toBe(REQUEST_TIMEOUT_MS);
  });

  it('serves a request that arrives in time', async () => {
    const { received } = await exchange(
      port,
      (socket) => socket.write('POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}'),
      5000,
    );

    expect(statusCodes(received)).toEqual([200]);
  });
});

describe('request timeout of the server', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ config: await writeConfigFile({ requestTimeoutMs: 1000 }) });
  });

  afterAll(async () => {
    await server.close();
  });

  it('answers slow headers with 408', async () => {
    const port = Number(new URL(server.url).port);
    const { received, closed } = await exchange(port, trickle('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n', 'X-Padding: a\r\n'), 5000);

    expect(statusCodes(received)).toEqual([408]);
    expect(lastJsonBody(received)).toMatchObject({ code: 'request_timeout' });
    expect(closed).toBe(true);
  });
});
