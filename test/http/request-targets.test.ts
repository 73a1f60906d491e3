import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { listenOnLoopback, loggedHttpApp } from '../support/http-app.js';
import { lastJsonBody, sendRaw, statusCodes } from '../support/raw-socket.js';

describe('unusual request forms', () => {
  const { app, logs } = loggedHttpApp({ https: false });
  let port: number;

  beforeAll(async () => {
    // The asterisk form must not reach the root route.
    app.get('/', async () => ({ root: true }));
    app.get('/ping', async () => ({ ok: true }));
    app.post('/echo', async (request) => request.body);
    port = await listenOnLoopback(app);
  });

  afterAll(async () => {
    await app.close();
  });

  it.each([
    ['OPTIONS', 'The request target * (asterisk form) is not supported. Send OPTIONS to a path, such as /oauth/token.'],
    ['GET', 'The request target * (asterisk form) is allowed only with OPTIONS. Send the request to a path, such as /.'],
  ])('rejects %s with an asterisk target', async (method, detail) => {
    const { received, closed } = await sendRaw(port, `${method} * HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);

    expect(statusCodes(received)).toEqual([400]);
    expect(received).toContain('content-type: application/problem+json; charset=utf-8');
    expect(received).toContain('x-content-type-options: nosniff');
    expect(lastJsonBody(received)).toMatchObject({ code: 'invalid_request', detail });
    expect(closed).toBe(true);
  });

  it.each(['/ping#x', '/ping?q=a#b', '/echo#?q=1', 'http://127.0.0.1/ping#x'])('rejects the target %s with a fragment', async (target) => {
    const { received } = await sendRaw(port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);

    expect(statusCodes(received)).toEqual([400]);
    expect(received).toContain('content-type: application/problem+json; charset=utf-8');
    expect(lastJsonBody(received)).toMatchObject({
      code: 'invalid_request',
      detail: "The request target contains '#', which a request target must not contain. Send '#' in a path or query as %23.",
    });
  });

  it.each(['2.0', '0.9'])('rejects the version HTTP/%s', async (version) => {
    // A second request follows, which the server must not serve on this connection.
    const request = `GET /ping HTTP/${version}\r\nHost: 127.0.0.1\r\n\r\n`;
    const { received, closed } = await sendRaw(port, `${request}GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);

    expect(statusCodes(received)).toEqual([400]);
    expect(received).toContain('content-type: application/problem+json; charset=utf-8');
    expect(received).toContain('x-content-type-options: nosniff');
    expect(lastJsonBody(received)).toMatchObject({
      code: 'invalid_request',
      detail: `The request line names HTTP/${version}, but this server accepts HTTP/1.1 and HTTP/1.0 only.`,
    });
    expect(closed).toBe(true);
  });

  it('names the request line in a 431', async () => {
    const { received } = await sendRaw(port, `GET /ping?q=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);

    expect(statusCodes(received)).toEqual([431]);
    expect(lastJsonBody(received)).toMatchObject({
      code: 'headers_too_large',
      detail: 'The request line and headers together are larger than the server accepts. Send a shorter URL, or fewer or smaller headers.',
    });
  });

  it('serves an encoded number sign', async () => {
    const { received } = await sendRaw(port, 'GET /ping?q=a%23b HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');

    expect(statusCodes(received)).toEqual([200]);
  });

  it('rejects CONNECT with a problem', async () => {
    const { received, closed } = await sendRaw(port, 'CONNECT user:hunter2@example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');

    expect(statusCodes(received)).toEqual([400]);
    expect(received).toContain('content-type: application/problem+json; charset=utf-8');
    expect(received).toContain('x-content-type-options: nosniff');
    expect(lastJsonBody(received)).toMatchObject({ code: 'invalid_request', detail: 'CONNECT is not supported, because this server is not a proxy.' });
    expect(closed).toBe(true);
  });

  it('logs CONNECT without its credentials', async () => {
    await sendRaw(port, 'CONNECT user:hunter2@example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    const line = logs.find((entry) => entry.includes('CONNECT'));

    expect(line).toBeDefined();
    expect(line).toContain('example.com:443');
    expect(line).not.toContain('hunter2');
    expect(logs.join('\n')).not.toContain('hunter2');
  });

  it('rejects an unknown expectation with 417', async () => {
    const { received, closed } = await sendRaw(
      port,
      'POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 200-ok\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}',
    );

    expect(statusCodes(received)).toEqual([417]);
    expect(received).toContain('content-type: application/problem+json; charset=utf-8');
    expect(received).toContain("content-security-policy: default-src 'none'");
    expect(lastJsonBody(received)).toMatchObject({ status: 417, code: 'expectation_failed' });
    expect(closed).toBe(true);
  });

  it('continues on 100-continue', async () => {
    const { received } = await sendRaw(
      port,
      'POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}',
    );

    expect(statusCodes(received)).toEqual([100, 200]);
  });

  it('serves an upgrade request and closes', async () => {
    const upgrade = 'GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n';
    const { received, closed } = await sendRaw(port, `${upgrade}GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, 3000);

    expect(statusCodes(received)[0]).toBe(200);
    expect(received).toContain('{"ok":true}');
    expect(closed).toBe(true);
  });
});
