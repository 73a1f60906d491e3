import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { writeConfigFile } from '../support/config-file.js';
import { listenOnLoopback, loggedHttpApp } from '../support/http-app.js';
import { exchange, statusCodes } from '../support/raw-socket.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Twice the 1 s check interval. The tests of connections that must stay open
 * pause for at most 1.2 s, which leaves 800 ms to spare on a loaded machine.
 */
const IDLE_TIMEOUT_MS = 2000;
/** The idle timeout, one check interval, and time to spare on a loaded machine. */
const CLOSE_DEADLINE_MS = IDLE_TIMEOUT_MS + 3000;
const LARGE_BODY = 'x'.repeat(1024 * 1024);

/** Polls `condition` every 50 ms for at most `timeoutMs` and returns whether it came true. */
async function eventually(condition: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) {
      return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return condition();
}

describe('idle connections', () => {
  const { app } = loggedHttpApp({ https: false, idleTimeoutMs: IDLE_TIMEOUT_MS });
  let port: number;

  beforeAll(async () => {
    app.get('/ping', async () => ({ ok: true }));
    app.get('/wait', async () => {
      await new Promise((resolve) => setTimeout(resolve, 1200));
      return { ok: true };
    });
    app.get('/large', async (_request, reply) => reply.type('text/plain').send(LARGE_BODY));
    // Sends a chunk every 300 ms, so the response runs well past the idle timeout.
    app.get('/drip', async (_request, reply) => {
      reply.raw.writeHead(200, { 'content-type': 'text/plain' });
      for (let chunk = 0; chunk < 12; chunk += 1) {
        reply.raw.write('chunk\n');
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      reply.raw.end('done\n');
      return reply;
    });
    port = await listenOnLoopback(app);
  });

  afterAll(async () => {
    await app.close();
  });

  it('closes a connection kept alive with blank lines', async () => {
    const sendBlankLines = (socket: Socket) => {
      socket.write('GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      const timer = setInterval(() => socket.write('\r\n'), 100);
      socket.on('close', () => clearInterval(timer));
    };
    const { received, closed, elapsedMs } = await exchange(port, sendBlankLines, CLOSE_DEADLINE_MS + 1000);

    expect(statusCodes(received)).toEqual([200]);
    expect(closed).toBe(true);
    expect(elapsedMs).toBeLessThan(CLOSE_DEADLINE_MS);
  });

  it('closes a connection that sends nothing', async () => {
    const { closed, elapsedMs } = await exchange(port, () => {}, CLOSE_DEADLINE_MS + 1000);

    expect(closed).toBe(true);
    expect(elapsedMs).toBeLessThan(CLOSE_DEADLINE_MS);
  });

  it('closes a connection that never reads', async () => {
    const serverSide = new Promise<Socket>((resolve) => app.server.once('connection', resolve));
    const requests = 'GET /large HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'.repeat(64);
    const outcome = exchange(
      port,
      (socket) => {
        socket.pause();
        socket.write(requests);
      },
      CLOSE_DEADLINE_MS + 1000,
    );
    const socket = await serverSide;
    const started = Date.now();

    // Waits until the responses fill the socket buffers, so that writing stalls.
    expect(await eventually(async () => socket.writableLength > 0, 2000)).toBe(true);
    expect(await eventually(async () => socket.destroyed, CLOSE_DEADLINE_MS)).toBe(true);
    expect(Date.now() - started).toBeLessThan(CLOSE_DEADLINE_MS);
    await outcome;
  });

  it('keeps a request that follows idle time', async () => {
    const pauseThenRequest = (socket: Socket) => {
      setTimeout(() => socket.write('GET /wait HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'), 1200);
    };
    const { received } = await exchange(port, pauseThenRequest, 8000);

    expect(statusCodes(received)).toEqual([200]);
  });

  it('keeps a slowly sent request head', async () => {
    // One header line every 300 ms, so the head takes well over the idle timeout.
    const sendSlowHead = (socket: Socket) => {
      socket.write('GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n');
      let lines = 0;
      const timer = setInterval(() => {
        lines += 1;
        socket.write(lines < 12 ? `X-Line-${lines}: slow\r\n` : '\r\n');
        if (lines === 12) {
          clearInterval(timer);
        }
      }, 300);
      socket.on('close', () => clearInterval(timer));
    };
    const { received, closed } = await exchange(port, sendSlowHead, 8000);

    expect(statusCodes(received)).toEqual([200]);
    expect(closed).toBe(true);
  });

  it('keeps a slow response that makes progress', async () => {
    const { received } = await exchange(port, (socket) => socket.write('GET /drip HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'), 8000);

    expect(statusCodes(received)).toEqual([200]);
    expect(received).toContain('done');
  });
});

describe('idle timeout of the server', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ config: await writeConfigFile({ idleTimeoutMs: IDLE_TIMEOUT_MS, gateway: { upstreamTimeoutMs: IDLE_TIMEOUT_MS } }) });
  });

  afterAll(async () => {
    await server.close();
  });

  it('closes a connection that sends nothing', async () => {
    const { closed, elapsedMs } = await exchange(Number(new URL(server.url).port), () => {}, CLOSE_DEADLINE_MS + 1000);

    expect(closed).toBe(true);
    expect(elapsedMs).toBeLessThan(CLOSE_DEADLINE_MS);
  });
});
