import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isValidHost } from '../../src/http/host-header.js';
import { createLogger } from '../../src/http/logger.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { startMetricsServer, type MetricsServer } from '../../src/metrics/server.js';
import { loggedHttpApp } from '../support/http-app.js';

interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** Sends `head` as the whole request on a fresh connection and parses the response that comes back. */
async function sendRaw(port: number, head: string): Promise<RawResponse> {
  const text = await new Promise<string>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    socket.on('end', () => resolve(received));
    socket.on('error', reject);
    socket.end(head);
  });

  const [headText = '', body = ''] = text.split('\r\n\r\n', 2);
  const [statusLine = '', ...headerLines] = headText.split('\r\n');
  const headers = new Map(headerLines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

const BAD_HOST_REQUESTS = [
  ['missing', 'GET /ping HTTP/1.1\r\nConnection: close\r\n\r\n', 'no Host header'],
  ['repeated', 'GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n', '2 Host headers'],
  ['repeated in HTTP/1.0', 'GET /ping HTTP/1.0\r\nHost: a.example\r\nhost: b.example\r\n\r\n', '2 Host headers'],
  ['invalid', 'GET /ping HTTP/1.1\r\nHost: a b/c\r\nConnection: close\r\n\r\n', 'Host header is invalid'],
  ['empty', 'GET /ping HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n', 'Host header is invalid'],
] as const;

describe('Host header syntax', () => {
  it.each([
    'example.com',
    'example.com:8443',
    '127.0.0.1:3000',
    '[::1]:8080',
    '[2001:db8::7]',
    '[v1.fe80::a+en1]',
    'xn--bcher-kva.example',
    'caf%C3%A9.example',
    'example.com:',
  ])('accepts %s', (value) => {
    expect(isValidHost(value)).toBe(true);
  });

  it.each([
    '',
    ':8080',
    'a b',
    'example.com/path',
    'user@example.com',
    'example.com:80:80',
    'example.com:http',
    '[::1',
    '[::1]x',
    '[fe80::1%eth0]',
    '[not-an-address]',
    'bad%zz.example',
  ])('rejects %j', (value) => {
    expect(isValidHost(value)).toBe(false);
  });
});

describe('Host header on the shared app', () => {
  const { app, logs } = loggedHttpApp({ https: false });
  let port: number;

  beforeAll(async () => {
    app.get('/ping', async () => ({ ok: true }));
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await app.close();
  });

  it.each(BAD_HOST_REQUESTS)('rejects a %s Host', async (_case, head, detail) => {
    const response = await sendRaw(port, head);

    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    const problem = JSON.parse(response.body) as { code: string; detail: string; request_id: string };
    expect(problem.code).toBe('invalid_request');
    expect(problem.detail).toContain(detail);
    expect(response.headers.get('x-request-id')).toBe(problem.request_id);
  });

  it('logs a bad Host at info', async () => {
    const response = await sendRaw(port, BAD_HOST_REQUESTS[0][1]);
    const requestId = response.headers.get('x-request-id');

    const lines = logs.map((line) => JSON.parse(line) as { level: number; reqId?: string; msg?: string; res?: { statusCode?: number } });
    const entry = lines.find((line) => line.reqId === requestId && line.msg === 'request completed');
    expect(entry?.level).toBe(30);
    expect(entry?.res?.statusCode).toBe(400);
  });

  it('serves HTTP/1.0 without Host', async () => {
    const response = await sendRaw(port, 'GET /ping HTTP/1.0\r\n\r\n');

    expect(response.status).toBe(200);
    expect(response.body).toBe('{"ok":true}');
  });

  it('serves a valid Host', async () => {
    const response = await sendRaw(port, `GET /ping HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);

    expect(response.status).toBe(200);
    expect(response.headers.get('x-request-id')).toBeTruthy();
  });
});

describe('Host header on the metrics listener', () => {
  let server: MetricsServer;
  let port: number;

  beforeAll(async () => {
    server = await startMetricsServer(new Metrics(), '127.0.0.1', 0, createLogger('silent'));
    port = Number(new URL(server.url).port);
  });

  afterAll(async () => {
    await server.close();
  });

  it.each(BAD_HOST_REQUESTS)('rejects a %s Host', async (_case, head, detail) => {
    const response = await sendRaw(port, head.replace('/ping', '/metrics'));

    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    const problem = JSON.parse(response.body) as { code: string; detail: string };
    expect(problem.code).toBe('invalid_request');
    expect(problem.detail).toContain(detail);
  });

  it('serves HTTP/1.0 without Host', async () => {
    const response = await sendRaw(port, 'GET /metrics HTTP/1.0\r\n\r\n');

    expect(response.status).toBe(200);
  });
});
