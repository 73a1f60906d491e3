import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { listenOnLoopback, loggedHttpApp } from '../support/http-app.js';
import { lastJsonBody, sendRaw, statusCodes } from '../support/raw-socket.js';

const VALID = 'GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';

describe('pipelined malformed request', () => {
  const { app } = loggedHttpApp({ https: false });
  let port: number;

  beforeAll(async () => {
    // Slow enough that the malformed request is parsed before the first response is sent.
    app.get('/slow', async () => {
      await new Promise((resolve) => setTimeout(resolve, 100));
      return { ok: true };
    });
    app.post('/echo', async (request) => request.body);
    port = await listenOnLoopback(app);
  });

  afterAll(async () => {
    await app.close();
  });

  it('answers the valid request first', async () => {
    const { received, closed } = await sendRaw(port, `${VALID}GARBAGE / HTTP/1.1\r\n\r\n`);

    expect(statusCodes(received)).toEqual([200, 400]);
    expect(received).toContain('{"ok":true}');
    expect(lastJsonBody(received).code).toBe('invalid_request');
    expect(closed).toBe(true);
  });

  it('answers every earlier request first', async () => {
    const { received } = await sendRaw(port, `${VALID}${VALID}${VALID}GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n`);

    expect(statusCodes(received)).toEqual([200, 200, 200, 400]);
  });

  it('answers the valid request before CONNECT', async () => {
    const { received, closed } = await sendRaw(port, `${VALID}CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n`);

    expect(statusCodes(received)).toEqual([200, 400]);
    expect(received).toContain('{"ok":true}');
    expect(closed).toBe(true);
  });

  it('rejects a malformed body of an in-flight request', async () => {
    const { received, closed } = await sendRaw(
      port,
      'POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n',
    );

    expect(statusCodes(received)).toEqual([400]);
    expect(closed).toBe(true);
  });
});
