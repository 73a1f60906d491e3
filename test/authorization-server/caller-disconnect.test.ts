import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { startTestServer, type TestServer } from '../support/server.js';

interface LogLine {
  level: number;
  msg: string;
  reqId?: string;
  code?: string;
}

describe('caller leaving mid-body', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server?.close();
  });

  /** Sends the head and part of the body, then closes the connection once the server has read the head. */
  async function leaveMidBody(path: string): Promise<void> {
    const port = Number(new URL(server.url).port);
    await new Promise<void>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=`);
        setTimeout(() => socket.destroy(), 200);
      });
      socket.on('error', () => {});
      socket.on('close', () => resolve());
    });
  }

  it.each(['/oauth/token', '/oauth/introspect', '/register', '/interaction/some-uid/login'])('logs a caller that left %s at info', async (path) => {
    const before = server.logs.length;
    await leaveMidBody(path);

    const lines = await vi.waitFor(
      () => {
        const parsed = server.logs.slice(before).map((line) => JSON.parse(line) as LogLine);
        const reqId = parsed.find((line) => line.msg.includes('request was complete'))?.reqId;
        expect(reqId).toBeDefined();
        return parsed.filter((line) => line.reqId === reqId);
      },
      { timeout: 5000, interval: 50 },
    );

    const dropped = lines.find((line) => line.msg.includes('request was complete'));
    expect(dropped?.level).toBe(30);
    expect(dropped?.code).toBe('ECONNRESET');
    expect(lines.filter((line) => line.level >= 40)).toEqual([]);
    expect(lines.filter((line) => line.msg === 'interaction rejected')).toEqual([]);
  });
});
