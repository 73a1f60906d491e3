import { connect, type AddressInfo, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { GracefulShutdown } from '../../src/http/graceful-shutdown.js';
import { loggedHttpApp } from '../support/http-app.js';
import { exchange, statusCodes, type SocketExchange } from '../support/raw-socket.js';

const HOST = 'Host: 127.0.0.1\r\n';
/** Larger than the socket buffers, so the response is still being written when the shutdown starts. */
const LARGE_BODY = 'x'.repeat(8 * 1024 * 1024);

/** Starts an app with a slow route, a fast route, a route that waits 3 seconds and a large response. */
async function startApp(): Promise<{ shutdown: GracefulShutdown; port: number; handled: string[]; stop: () => Promise<void> }> {
  const shutdown = new GracefulShutdown();
  const { app } = loggedHttpApp({ https: false, shutdown });
  const handled: string[] = [];
  app.get('/slow', async () => {
    await new Promise((resolve) => setTimeout(resolve, 300));
    handled.push('slow');
    return { route: 'slow' };
  });
  app.get('/fast', async () => {
    handled.push('fast');
    return { route: 'fast' };
  });
  app.get('/stall', async () => {
    await new Promise((resolve) => setTimeout(resolve, 3000));
    return { route: 'stall' };
  });
  app.get('/large', async (_request, reply) => {
    handled.push('large');
    return reply.type('text/plain').send(LARGE_BODY);
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  const stop = async () => {
    app.server.closeAllConnections();
    await app.close();
  };
  return { shutdown, port, handled, stop };
}

/** Stops the app of the current test, whatever the shutdown left open. */
let stop: (() => Promise<void>) | undefined;

afterEach(async () => {
  await stop?.();
  stop = undefined;
});

/**
 * Starts an app, pipelines two requests to its route that waits, and
 * starts the shutdown while both are running.
 */
async function stallTwoRequests(): Promise<{ started: Awaited<ReturnType<typeof startApp>>; responses: Promise<SocketExchange> }> {
  const started = await startApp();
  stop = started.stop;
  const pipelined = `GET /stall HTTP/1.1\r\n${HOST}\r\nGET /stall HTTP/1.1\r\n${HOST}\r\n`;

  const responses = exchange(started.port, (socket) => socket.write(pipelined), 2500);
  await runningRequests(started.shutdown, 2);
  void started.shutdown.start();
  return { started, responses };
}

/** Waits until `count` requests are running, so that a shutdown started next finds them all. */
async function runningRequests(shutdown: GracefulShutdown, count: number): Promise<void> {
  await vi.waitFor(() => expect(shutdown.running).toBe(count), { timeout: 5000, interval: 10 });
}

/** Returns the garbage collector, which a new context exposes once the flag is set. */
function exposeGarbageCollector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

describe('graceful shutdown tracking', () => {
  it('releases a finished request', async () => {
    const gc = exposeGarbageCollector();
    const shutdown = new GracefulShutdown();
    const { app } = loggedHttpApp({ https: false, shutdown });
    let body: WeakRef<object> | undefined;
    app.post('/echo', async (request) => {
      body = new WeakRef(request.body as object);
      return { received: true };
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    stop = async () => {
      app.server.closeAllConnections();
      await app.close();
    };
    const payload = JSON.stringify({ data: 'x'.repeat(512) });
    const request = `POST /echo HTTP/1.1\r\n${HOST}content-type: application/json\r\ncontent-length: ${payload.length}\r\n\r\n${payload}`;

    // The connection stays open and idle after the response, as a kept-alive one does.
    const socket = await new Promise<Socket>((resolve, reject) => {
      const client = connect((app.server.address() as AddressInfo).port, '127.0.0.1', () => client.write(request));
      client.once('data', () => resolve(client));
      client.once('error', reject);
    });
    // The reply is released once it has finished, which can come after the
    // client has read it, so collection repeats. A deref keeps the body alive
    // until its job ends, so each collection runs in a later job.
    for (let round = 0; round < 200; round += 1) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      gc();
      await new Promise((resolve) => setTimeout(resolve, 10));
      if (body?.deref() === undefined) {
        break;
      }
    }

    expect(body).toBeDefined();
    expect(body?.deref()).toBeUndefined();
    socket.destroy();
  });
});

describe('graceful shutdown of a response being written', () => {
  it('writes the whole large response', async () => {
    const started = await startApp();
    stop = started.stop;
    const socket = connect(started.port, '127.0.0.1', () => socket.write(`GET /large HTTP/1.1\r\n${HOST}\r\n`));
    socket.on('error', () => {});
    // The client reads nothing until the shutdown has started, so the ended response is still queued.
    socket.pause();
    let receivedBytes = 0;
    socket.on('data', (chunk: Buffer) => (receivedBytes += chunk.length));
    const closed = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 5000);
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    await vi.waitFor(() => expect(started.handled).toEqual(['large']), { timeout: 5000, interval: 10 });

    const closing = started.shutdown.start();
    await new Promise((resolve) => setTimeout(resolve, 200));
    socket.resume();
    const wasClosed = await closed;
    socket.destroy();
    await closing;

    expect(wasClosed).toBe(true);
    expect(receivedBytes).toBeGreaterThan(LARGE_BODY.length);
  });
});

describe('graceful shutdown with pipelined requests', () => {
  it('answers every admitted request', async () => {
    const started = await startApp();
    stop = started.stop;
    const pipelined = `GET /slow HTTP/1.1\r\n${HOST}\r\nGET /fast HTTP/1.1\r\n${HOST}\r\nGET /fast HTTP/1.1\r\n${HOST}\r\n`;

    const responses = exchange(started.port, (socket) => socket.write(pipelined), 5000);
    // The first request waits 300 ms, so the other two are running behind it.
    await runningRequests(started.shutdown, 3);
    const closing = started.shutdown.start();
    const { received, closed } = await responses;
    await closing;

    expect(started.handled).toEqual(['fast', 'fast', 'slow']);
    expect(statusCodes(received)).toEqual([200, 200, 200]);
    expect(received.endsWith('{"route":"fast"}')).toBe(true);
    expect(closed).toBe(true);
  });

  it('answers a request without Host', async () => {
    const started = await startApp();
    stop = started.stop;
    const pipelined = `GET /slow HTTP/1.1\r\n${HOST}\r\nGET /fast HTTP/1.1\r\n\r\n`;

    const responses = exchange(started.port, (socket) => socket.write(pipelined), 5000);
    // The request without Host runs too, and its 400 waits behind the first response.
    await runningRequests(started.shutdown, 2);
    const closing = started.shutdown.start();
    const { received, closed } = await responses;
    await closing;

    expect(statusCodes(received)).toEqual([200, 400]);
    expect(received).toContain('no Host header');
    expect(closed).toBe(true);
  });

  it('answers every stalled request with 503', async () => {
    const { started, responses } = await stallTwoRequests();
    expect(started.shutdown.running).toBe(2);
    started.shutdown.endNow();
    const { received, closed } = await responses;

    expect(statusCodes(received)).toEqual([503, 503]);
    expect(received.match(/^connection: close/gim)?.length).toBe(1);
    expect(received.match(/^x-content-type-options: nosniff/gim)?.length).toBe(2);
    expect(started.shutdown.ended).toBe(2);
    expect(closed).toBe(true);
  });

  it('counts each ended request once', async () => {
    const { started, responses } = await stallTwoRequests();
    // As on a second stop signal that arrives at the shutdown deadline.
    started.shutdown.endNow();
    started.shutdown.endNow();
    await responses;

    expect(started.shutdown.ended).toBe(2);
  });
});
