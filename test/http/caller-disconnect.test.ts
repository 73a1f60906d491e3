import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isBackendOutage } from '../../src/backends/outage.js';
import { loggedHttpApp } from '../support/http-app.js';

interface LogLine {
  level: number;
  msg: string;
  reqId?: string;
  code?: string;
  err?: { stack?: string };
}

const PARTIAL_REQUEST =
  'POST /orders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{"item"';

/**
 * Sends the head and 7 of the 50 body bytes, then leaves the way `leave`
 * does, 50 ms after `server` has read the head. Returns every byte the
 * server sent back.
 */
async function sendPartialBody(server: Server, leave: (socket: Socket) => void): Promise<string> {
  const headRead = new Promise<void>((resolve) => server.once('request', () => resolve()));
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port });
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    socket.on('error', () => {});
    socket.on('close', () => resolve(received));
    socket.write(PARTIAL_REQUEST);
    void headRead.then(() => setTimeout(() => leave(socket), 50));
  });
}

describe('caller leaving mid-body', () => {
  const { app, logs } = loggedHttpApp({ https: false });
  const sentTo: string[] = [];

  beforeAll(async () => {
    app.addHook('onSend', async (request) => {
      sentTo.push(request.id);
    });
    app.post('/orders', async (request) => request.body);
    await app.listen({ host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    await app.close();
  });

  /** Waits until the request to /orders has written its last line, and returns that request's lines. */
  async function linesOfLastRequest(): Promise<LogLine[]> {
    const parsed = () => logs.map((line) => JSON.parse(line) as LogLine);
    for (let attempt = 0; attempt < 250 && !parsed().some((line) => line.msg.includes('request was complete')); attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const lines = parsed();
    const reqId = lines.findLast((line) => line.msg.includes('request was complete'))?.reqId;
    return lines.filter((line) => line.reqId === reqId);
  }

  it.each([
    ['closes', (socket: Socket) => socket.destroy()],
    ['resets', (socket: Socket) => socket.resetAndDestroy()],
  ])('logs a caller that %s at info', async (_case, leave) => {
    logs.length = 0;

    await sendPartialBody(app.server, leave);
    const lines = await linesOfLastRequest();

    const dropped = lines.find((line) => line.msg.includes('request was complete'));
    expect(dropped?.level).toBe(30);
    expect(dropped?.code).toBe('ECONNRESET');
    expect(dropped?.err).toBeUndefined();
    expect(lines.filter((line) => line.level >= 40)).toEqual([]);
    expect(lines.some((line) => line.code === 'service_unavailable')).toBe(false);
    expect(lines.some((line) => line.msg === 'request completed')).toBe(false);
    expect(sentTo).not.toContain(dropped?.reqId);
  });
});

describe('backend outage after the caller check', () => {
  it('still counts a backend socket reset', () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', errno: -104, syscall: 'read' });

    expect(isBackendOutage(reset)).toBe(true);
    expect(isBackendOutage(new Error('query failed', { cause: reset }))).toBe(true);
  });

  it('still counts a closed Redis connection', () => {
    expect(isBackendOutage(new Error('Connection is closed.'))).toBe(true);
  });
});
