import { createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';

import { UpstreamExchange } from '../../src/gateway/upstream-exchange.js';
import { RejectedResponse, readUpstreamBody, relayedBody, type UpstreamResponse } from '../../src/gateway/upstream-response.js';

/**
 * Read limits of most tests. The read timeout is far longer than the pauses
 * the scripted upstreams take, so that a loaded machine cannot turn a late
 * chunk or close into a timeout.
 */
const limits = { limitBytes: 16, timeoutMs: 5000 };

/** A raw upstream that writes the bytes a test scripts, and the pool that reaches it. */
interface ScriptedUpstream {
  pool: Pool;
  /** Resolves when the gateway side closes the connection of the last request. */
  closed: Promise<void>;
}

async function rejectionOf(promise: Promise<unknown>): Promise<RejectedResponse> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (!(error instanceof RejectedResponse)) {
    throw new Error(`expected a RejectedResponse, got ${String(error)}`);
  }
  return error;
}

function head(headers: Record<string, string> = {}): string {
  const lines = Object.entries({ 'content-type': 'application/json', ...headers }).map(([name, value]) => `${name}: ${value}\r\n`);
  return `HTTP/1.1 200 OK\r\n${lines.join('')}\r\n`;
}

describe('upstream exchange', () => {
  const servers: Server[] = [];
  const pools: Pool[] = [];

  afterEach(async () => {
    await Promise.all(pools.splice(0).map((pool) => pool.destroy()));
    for (const server of servers.splice(0)) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  async function upstream(respond: (socket: Socket) => void): Promise<ScriptedUpstream> {
    let onClosed!: () => void;
    const closed = new Promise<void>((resolve) => (onClosed = resolve));
    const server = createServer((socket) => {
      socket.on('error', () => {});
      socket.once('close', onClosed);
      socket.once('data', () => respond(socket));
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;

    const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 1, headersTimeout: 2000, bodyTimeout: 2000 });
    pools.push(pool);
    return { pool, closed };
  }

  function send(scripted: ScriptedUpstream, exchange = new UpstreamExchange(), method: 'GET' | 'HEAD' = 'GET'): Promise<UpstreamResponse> {
    return exchange.send(scripted.pool, { path: '/widgets', method, headers: {}, body: null });
  }

  it('reads a body that arrives in chunks', async () => {
    const scripted = await upstream((socket) => {
      socket.write(head({ 'transfer-encoding': 'chunked' }) + '5\r\n{"a":\r\n');
      setTimeout(() => socket.write('2\r\n1}\r\n0\r\n\r\n'), 20);
    });

    const response = await send(scripted);

    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/json');
    expect((await readUpstreamBody(response, limits)).toString()).toBe('{"a":1}');
  });

  it('reads a body larger than the unclaimed buffer', async () => {
    const body = 'x'.repeat(200 * 1024);
    const scripted = await upstream((socket) => socket.write(head({ 'content-length': String(body.length) }) + body));

    const response = await send(scripted);
    // Past the unclaimed buffer the connection is paused, and the read resumes it.
    await sleep(50);

    expect((await readUpstreamBody(response, { limitBytes: 1024 * 1024, timeoutMs: 2000 })).toString()).toBe(body);
  });

  it('rejects an announced oversized body', async () => {
    const scripted = await upstream((socket) => socket.write(head({ 'content-length': '17' })));

    const rejected = await rejectionOf(readUpstreamBody(await send(scripted), limits));

    expect(rejected.problem.status).toBe(502);
    expect(rejected.reason).toBe('response body over the limit');
    await scripted.closed;
  });

  it('stops reading past the limit', async () => {
    const scripted = await upstream((socket) => {
      socket.write(head({ 'transfer-encoding': 'chunked' }) + 'a\r\nxxxxxxxxxx\r\n');
      setTimeout(() => socket.write('a\r\nxxxxxxxxxx\r\n'), 20);
    });

    const rejected = await rejectionOf(readUpstreamBody(await send(scripted), limits));

    expect(rejected.reason).toBe('response body over the limit');
    await scripted.closed;
  });

  it('rejects a body broken before the read', async () => {
    const scripted = await upstream((socket) => {
      socket.write(head({ 'content-length': '10' }) + '{"a":');
      setTimeout(() => socket.destroy(), 20);
    });

    const response = await send(scripted);
    await scripted.closed;
    await sleep(20);

    const rejected = await rejectionOf(readUpstreamBody(response, limits));
    expect(rejected.problem.status).toBe(502);
    expect(rejected.reason).toBe('response body read failed');
  });

  it('rejects a body broken during the read', async () => {
    const scripted = await upstream((socket) => {
      socket.write(head({ 'content-length': '10' }) + '{"a":');
      setTimeout(() => socket.destroy(), 50);
    });

    const rejected = await rejectionOf(readUpstreamBody(await send(scripted), limits));

    expect(rejected.problem.status).toBe(502);
    expect(rejected.reason).toBe('response body read failed');
  });

  it('times out a stalled body', async () => {
    const scripted = await upstream((socket) => socket.write(head({ 'content-length': '10' }) + '{"a":'));

    const rejected = await rejectionOf(readUpstreamBody(await send(scripted), { ...limits, timeoutMs: 300 }));

    expect(rejected.problem.status).toBe(504);
    expect(rejected.reason).toBe('response body timed out');
    await scripted.closed;
  });

  it('relays a body as a stream', async () => {
    const scripted = await upstream((socket) => {
      socket.write(head({ 'transfer-encoding': 'chunked' }) + '5\r\n{"a":\r\n');
      setTimeout(() => socket.write('2\r\n1}\r\n0\r\n\r\n'), 50);
    });

    const response = await send(scripted);
    await sleep(20);

    const chunks: Buffer[] = [];
    for await (const chunk of response.body.stream()) {
      chunks.push(chunk as Buffer);
    }
    expect(Buffer.concat(chunks).toString()).toBe('{"a":1}');
  });

  it('relays a complete body as bytes', async () => {
    const scripted = await upstream((socket) => socket.write(head({ 'content-length': '7' }) + '{"a":1}'));

    const response = await send(scripted);
    await sleep(20);

    const relayed = relayedBody(response, 'GET');
    expect(Buffer.isBuffer(relayed)).toBe(true);
    expect(relayed.toString()).toBe('{"a":1}');
  });

  it('relays a body without Content-Type as a stream', async () => {
    const scripted = await upstream((socket) => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'));

    const response = await send(scripted);
    await sleep(20);

    const relayed = relayedBody(response, 'GET');
    expect(Buffer.isBuffer(relayed)).toBe(false);
    const chunks: Buffer[] = [];
    for await (const chunk of relayed) {
      chunks.push(chunk as Buffer);
    }
    expect(Buffer.concat(chunks).toString()).toBe('ok');
  });

  it('relays the body of a HEAD response as a stream', async () => {
    const scripted = await upstream((socket) => socket.write(head({ 'transfer-encoding': 'chunked' })));

    const response = await send(scripted, new UpstreamExchange(), 'HEAD');
    await sleep(20);

    // Bytes would be an empty body, which Fastify announces as Content-Length: 0.
    expect(Buffer.isBuffer(relayedBody(response, 'HEAD'))).toBe(false);
  });

  it('closes the connection of a destroyed stream', async () => {
    const scripted = await upstream((socket) => socket.write(head({ 'content-length': '10' }) + '{"a":'));

    const stream = (await send(scripted)).body.stream();
    stream.destroy();

    await scripted.closed;
  });

  it('rejects the head of an aborted exchange', async () => {
    let requested!: () => void;
    const received = new Promise<void>((resolve) => (requested = resolve));
    const scripted = await upstream(() => requested());
    const exchange = new UpstreamExchange();

    const response = send(scripted, exchange).then(
      () => undefined,
      (error: unknown) => error,
    );
    await received;
    const reason = new Error('caller left');
    exchange.abort(reason);

    expect(await response).toBe(reason);
    await scripted.closed;
  });

  it('aborts a queued request unsent', async () => {
    const requests: string[] = [];
    const scripted = await upstream((socket) => {
      socket.on('data', (data: Buffer) => requests.push(data.toString()));
      setTimeout(() => socket.write(head({ 'content-length': '2' }) + '{}'), 50);
    });
    const first = new UpstreamExchange();
    const queued = new UpstreamExchange();

    const firstResponse = send(scripted, first);
    const queuedResponse = send(scripted, queued).then(
      () => undefined,
      (error: unknown) => error,
    );
    const reason = new Error('caller left');
    queued.abort(reason);

    expect((await readUpstreamBody(await firstResponse, limits)).toString()).toBe('{}');
    expect(await queuedResponse).toBe(reason);
    expect(requests).toHaveLength(0);
  });
});
