import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer, request as httpRequest, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createConnection, createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { writeConfigFile } from '../support/config-file.js';
import { callApi, obtainTokens } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { parseSamples, sampleValue } from '../metrics/prometheus-text.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/response-checks.yaml', import.meta.url));
/** Options for polling logs and metrics. The vitest default gives up after 1 s, which a loaded machine can exceed. */
const POLL = { timeout: 10_000, interval: 50 };

interface LogEntry {
  msg?: string;
  err?: { code?: string; cause?: { code?: string } };
}

async function listen(server: Server, scheme = 'https'): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return `${scheme}://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
}

/** Creates a self-signed certificate for 127.0.0.1 with the openssl command. */
async function selfSignedCertificate(): Promise<{ key: string; cert: string }> {
  const directory = await mkdtemp(join(tmpdir(), 'portcullis-tls-'));
  try {
    const [key, cert] = [join(directory, 'key.pem'), join(directory, 'cert.pem')];
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    return { key: await readFile(key, 'utf8'), cert: await readFile(cert, 'utf8') };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

describe('gateway upstream connections', () => {
  const cleanups: Array<() => Promise<void>> = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup();
    }
  });

  async function startGateway(
    upstreamUrl: string,
    gateway: Record<string, unknown> = {},
    settings: Record<string, unknown> = {},
  ): Promise<{ server: TestServer; token: string }> {
    const config = await writeConfigFile({ gateway: { upstreamUrl, openapi: FIXTURE, ...gateway }, rateLimit: { flows: [] }, ...settings });
    const server = await startTestServer({ config });
    cleanups.push(() => server.close());
    const token = (await obtainTokens(server, await createUser(server, 'connection_user'))).tokens.access_token;
    return { server, token };
  }

  function failures(server: TestServer): LogEntry[] {
    return server.logs.map((line) => JSON.parse(line) as LogEntry).filter((entry) => entry.msg === 'upstream request failed');
  }

  it('times out a stalled TLS handshake', async () => {
    // The socket accepts the connection and never replies to the TLS ClientHello.
    const sockets = new Set<Socket>();
    const silent = createTcpServer((socket) => sockets.add(socket));
    const url = await listen(silent);
    cleanups.push(async () => {
      sockets.forEach((socket) => socket.destroy());
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    });

    const { server, token } = await startGateway(url, { upstreamConnectTimeoutMs: 300, upstreamTimeoutMs: 60_000 });
    const response = await callApi(server, '/widgets/w1', token);
    expect(response.status).toBe(504);
    expect(await response.json()).toMatchObject({ code: 'gateway_timeout', detail: 'The upstream service did not respond in time.' });
    expect(failures(server).at(-1)?.err?.code).toBe('UND_ERR_CONNECT_TIMEOUT');
  });

  it('sends no credentials from the upstream URL', async () => {
    const received: Array<string | undefined> = [];
    const upstream = createHttpServer((request, response) => {
      received.push(request.headers.authorization);
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"w1","name":"lamp"}');
    });
    const url = await listen(upstream, 'http');
    cleanups.push(async () => {
      upstream.closeAllConnections();
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    });

    const { server, token } = await startGateway(url.replace('http://', 'http://operator:upstream-password@'));
    expect((await callApi(server, '/widgets/w1', token)).status).toBe(200);
    expect(received).toEqual([undefined]);
    expect(server.logs.join('\n')).not.toContain('upstream-password');
  });

  it('answers 502 for a status outside 200 to 599', async () => {
    const sockets = new Set<Socket>();
    const odd = createTcpServer((socket) => {
      sockets.add(socket);
      socket.once('data', () => socket.end('HTTP/1.1 999 Odd\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}'));
    });
    const url = await listen(odd, 'http');
    cleanups.push(async () => {
      sockets.forEach((socket) => socket.destroy());
      await new Promise<void>((resolve) => odd.close(() => resolve()));
    });

    const { server, token } = await startGateway(url);
    const response = await callApi(server, '/widgets/w1', token);
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ code: 'bad_gateway', detail: 'The upstream service sent an invalid response.' });
  });

  /** An upstream that keeps each request open, and reports when the gateway closes the connection of one. */
  async function stallingUpstream(respond: (response: ServerResponse) => void): Promise<{ url: string; received: Promise<void>; closed: Promise<void> }> {
    let onReceived!: () => void;
    let onClosed!: () => void;
    const received = new Promise<void>((resolve) => (onReceived = resolve));
    const closed = new Promise<void>((resolve) => (onClosed = resolve));
    const upstream = createHttpServer((request, response) => {
      request.socket.once('close', onClosed);
      respond(response);
      onReceived();
    });
    const url = await listen(upstream, 'http');
    cleanups.push(async () => {
      upstream.closeAllConnections();
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    });
    return { url, received, closed };
  }

  /**
   * Sends `count` pipelined requests on one connection, which the upstream
   * keeps open, and closes that connection once all of them have reached the
   * upstream, or after 10 s. Returns how many requests reached the upstream,
   * and how many of their connections closed within 10 s after that.
   */
  async function pipelineAndLeave(count: number): Promise<{ received: number; closed: number }> {
    const upstreamSockets: Socket[] = [];
    let allReceived!: () => void;
    const received = new Promise<void>((resolve) => (allReceived = resolve));
    const upstream = createHttpServer((request) => {
      upstreamSockets.push(request.socket);
      if (upstreamSockets.length === count) {
        allReceived();
      }
    });
    const url = await listen(upstream, 'http');
    cleanups.push(async () => {
      upstream.closeAllConnections();
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    });
    const { server, token } = await startGateway(url, { upstreamTimeoutMs: 60_000 });

    const gateway = new URL(server.url);
    const caller = createConnection({ host: gateway.hostname, port: Number(gateway.port) });
    caller.on('error', () => {});
    const request = `GET /api/widgets/w1 HTTP/1.1\r\nhost: ${gateway.host}\r\nauthorization: Bearer ${token}\r\n\r\n`;
    caller.write(request.repeat(count));
    await Promise.race([received, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
    caller.destroy();

    const allClosed = Promise.all(upstreamSockets.map((socket) => new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())))));
    await Promise.race([allClosed, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
    return { received: upstreamSockets.length, closed: upstreamSockets.filter((socket) => socket.destroyed).length };
  }

  /** Sends GET /api/widgets/w1 on a connection of its own and closes that connection once `left` resolves. */
  async function sendAndLeave(server: TestServer, token: string, left: Promise<void>): Promise<void> {
    const request = httpRequest(`${server.url}/api/widgets/w1`, { agent: false, headers: { authorization: `Bearer ${token}` } });
    const closed = new Promise<void>((resolve) => request.once('close', resolve));
    request.on('error', () => {});
    request.end();

    await left;
    request.destroy();
    await closed;
  }

  function messages(server: TestServer): string[] {
    return server.logs.map((line) => (JSON.parse(line) as LogEntry).msg ?? '');
  }

  it('cancels the upstream request when the caller leaves', async () => {
    const upstream = await stallingUpstream(() => {});
    const { server, token } = await startGateway(upstream.url, { upstreamTimeoutMs: 60_000 });

    const caller = sendAndLeave(server, token, upstream.received);

    // Without the cancellation, the upstream connection stays open for the 60 s timeout.
    await upstream.closed;
    await caller;
    await expect.poll(() => messages(server), POLL).toContain('caller closed the connection before the upstream responded; upstream request cancelled');
    expect(messages(server)).not.toContain('upstream request failed');
  });

  it('cancels a checked body when the caller leaves', async () => {
    // Headers and half a body, then nothing: the gateway waits for the rest to check it.
    const upstream = await stallingUpstream((response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' }).write('{"id":"w1",');
    });
    const { server, token } = await startGateway(upstream.url, { upstreamTimeoutMs: 60_000 });

    const caller = sendAndLeave(server, token, upstream.received);

    await upstream.closed;
    await caller;
    await expect.poll(() => messages(server), POLL).toContain('caller closed the connection before the response was complete; upstream response dropped');
    expect(messages(server)).not.toContain('upstream response rejected');
  });

  it('cancels pipelined requests when the caller leaves', async () => {
    // The second response waits behind the first, so it has no socket of its own yet.
    const { received, closed } = await pipelineAndLeave(2);

    expect(received).toBe(2);
    expect(closed).toBe(2);
  });

  it('cancels many pipelined requests with one socket listener', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    cleanups.push(async () => {
      process.off('warning', onWarning);
    });

    const { received, closed } = await pipelineAndLeave(14);

    expect(received).toBe(14);
    expect(closed).toBe(14);
    expect(warnings.map((warning) => warning.name)).not.toContain('MaxListenersExceededWarning');
  });

  it('serves requests after a cancellation', async () => {
    let stall = true;
    const upstream = await stallingUpstream((response) => {
      if (!stall) {
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"w1","name":"lamp","secret":"s"}');
      }
    });
    const { server, token } = await startGateway(upstream.url, { upstreamTimeoutMs: 60_000 });

    await sendAndLeave(server, token, upstream.received);
    await upstream.closed;

    stall = false;
    const response = await callApi(server, '/widgets/w1', token);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ id: 'w1', name: 'lamp' });
  });

  /** Reads GET /api/reports/r1 to its end, or for at most 10 s, and returns how the response ended. */
  function readReport(server: TestServer, token: string): Promise<{ status: number | undefined; bytes: number; complete: boolean }> {
    return new Promise((resolve, reject) => {
      const request = httpRequest(`${server.url}/api/reports/r1`, { agent: false, headers: { authorization: `Bearer ${token}` } }, (response) => {
        let bytes = 0;
        response.on('data', (chunk: Buffer) => (bytes += chunk.length));
        response.on('error', () => {});
        response.once('close', () => {
          clearTimeout(deadline);
          resolve({ status: response.statusCode, bytes, complete: response.complete });
        });
      });
      const deadline = setTimeout(() => request.destroy(new Error('the report was still open after 10 s')), 10_000);
      request.on('error', reject);
      request.end();
    });
  }

  it('closes an unchecked relay at the relay timeout', async () => {
    // A CSV report that never ends: a few bytes every 100 ms, each well within the upstream timeout.
    const upstream = await stallingUpstream((response) => {
      response.writeHead(200, { 'content-type': 'text/csv' }).write('a,b\n');
      const timer = setInterval(() => response.write('1,2\n'), 100);
      response.once('close', () => clearInterval(timer));
    });
    const { server, token } = await startGateway(upstream.url, { upstreamTimeoutMs: 60_000, relayTimeoutMs: 1000 });

    const outcome = await readReport(server, token);

    expect(outcome.status).toBe(200);
    expect(outcome.bytes).toBeGreaterThan(0);
    expect(outcome.complete).toBe(false);
    await upstream.closed;
    await expect.poll(() => messages(server), POLL).toContain('relay of the upstream response body timed out; connection closed');
    // One warning for the timeout, and none from Fastify for the ended stream.
    const warnings = server.logs.map((line) => JSON.parse(line) as LogEntry & { level: number; reqId?: string }).filter((entry) => entry.level >= 40 && entry.reqId !== undefined);
    expect(warnings.map((entry) => entry.msg)).toEqual(['relay of the upstream response body timed out; connection closed']);
  });

  it('counts a relay closed at the relay timeout', async () => {
    const upstream = await stallingUpstream((response) => {
      response.writeHead(200, { 'content-type': 'text/csv' }).write('a,b\n');
      const timer = setInterval(() => response.write('1,2\n'), 100);
      response.once('close', () => clearInterval(timer));
    });
    const metrics = { enabled: true, host: '127.0.0.1', port: 0 };
    const { server, token } = await startGateway(upstream.url, { upstreamTimeoutMs: 60_000, relayTimeoutMs: 1000 }, { metrics });
    const counted = async () => {
      const response = await fetch(server.running.observability.metricsServer?.url ?? '');
      const samples = parseSamples(await response.text());
      return sampleValue(samples, 'portcullis_http_requests_total', { method: 'GET', route: '/api/reports/:id', status: '200' });
    };

    const outcome = await readReport(server, token);

    expect(outcome.complete).toBe(false);
    await expect.poll(counted, POLL).toBe(1);
  });

  it('relays a streamed body that ends in time', async () => {
    const upstream = await stallingUpstream((response) => {
      response.writeHead(200, { 'content-type': 'text/csv' }).write('a,b\n');
      setTimeout(() => response.end('1,2\n'), 200);
    });
    const { server, token } = await startGateway(upstream.url, { upstreamTimeoutMs: 60_000, relayTimeoutMs: 1000 });

    const outcome = await readReport(server, token);

    expect(outcome).toEqual({ status: 200, bytes: 8, complete: true });
    expect(messages(server)).not.toContain('relay of the upstream response body timed out; connection closed');
  });

  it('rejects an untrusted upstream certificate', async () => {
    const upstream = createHttpsServer(await selfSignedCertificate(), (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"w1","name":"lamp"}');
    });
    const url = await listen(upstream);
    cleanups.push(async () => {
      upstream.closeAllConnections();
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    });

    const { server, token } = await startGateway(url);
    const response = await callApi(server, '/widgets/w1', token);
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ code: 'bad_gateway', detail: 'The upstream service is unavailable.' });
  });
});
