import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { decodeJwt, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { IdentityAssertionVerifier, InvalidIdentityAssertionError } from '../../src/core/identity-assertion.js';
import { createUser } from '../support/accounts.js';
import { writeConfigFile } from '../support/config-file.js';
import { callApi, obtainTokens } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/retries.yaml', import.meta.url));
/** One request as the upstream received it: the connection it came on, its request line and body. */
interface Received {
  connection: number;
  line: string;
  body: string;
}

/**
 * An upstream on raw sockets that responds with 204 to each request, except that
 * it closes a connection without a response when `closeNext` or `closeEvery`
 * selects it, as an upstream does when it drops a kept-alive connection as idle.
 */
class ClosingUpstream {
  readonly received: Received[] = [];
  /** Connections closed when their next request arrives. */
  readonly closeNext = new Set<number>();
  closeEvery = false;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #connections = 0;

  constructor() {
    this.#server = createServer((socket) => this.#accept(socket));
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) {
      socket.destroy();
    }
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(socket: Socket): void {
    this.#connections += 1;
    const connection = this.#connections;
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => undefined);

    // Headers and body may arrive in separate chunks, so requests are cut from what has arrived so far.
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      for (let request = takeRequest(pending); request !== undefined; request = takeRequest(pending)) {
        pending = request.rest;
        this.received.push({ connection, line: request.line, body: request.body });
        if (this.closeEvery || this.closeNext.delete(connection)) {
          socket.destroy();
          return;
        }
        socket.write('HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n');
      }
    });
  }
}

/** Returns the first complete request in `text` and the text after it, or undefined while it is incomplete. */
function takeRequest(text: string): { line: string; body: string; rest: string } | undefined {
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd === -1) {
    return undefined;
  }

  const head = text.slice(0, headEnd);
  const length = Number(/^content-length:\s*(\d+)/im.exec(head)?.[1] ?? 0);
  const bodyStart = headEnd + 4;
  if (text.length < bodyStart + length) {
    return undefined;
  }

  const line = (head.split('\r\n')[0] ?? '').replace(/ HTTP\/1\.1$/, '');
  return { line, body: text.slice(bodyStart, bodyStart + length), rest: text.slice(bodyStart + length) };
}

describe('gateway retries on closed upstream connections', () => {
  const upstream = new ClosingUpstream();
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    const upstreamUrl = await upstream.listen();
    const config = await writeConfigFile({ gateway: { upstreamUrl, openapi: FIXTURE }, rateLimit: { flows: [] } });
    server = await startTestServer({ config });
    token = (await obtainTokens(server, await createUser(server, 'retry_user'))).tokens.access_token;
  });

  beforeEach(() => {
    upstream.received.length = 0;
    upstream.closeNext.clear();
    upstream.closeEvery = false;
  });

  afterAll(async () => {
    await server.close();
    await upstream.close();
  });

  /** Makes the upstream close the connection that the next request reuses, as it arrives. */
  async function staleConnectionAhead(): Promise<number> {
    expect((await callApi(server, '/items/warm', token)).status).toBe(204);
    const reused = upstream.received[0]?.connection as number;
    upstream.received.length = 0;
    upstream.closeNext.add(reused);
    return reused;
  }

  function send(method: string, path: string, body?: string): Promise<Response> {
    const init = body === undefined ? { method } : { method, body, headers: { 'content-type': 'text/plain' } };
    return callApi(server, path, token, init);
  }

  it('sends a GET again elsewhere', async () => {
    const stale = await staleConnectionAhead();

    expect((await send('GET', '/items/a')).status).toBe(204);
    expect(upstream.received.map((request) => request.line)).toEqual(['GET /items/a', 'GET /items/a']);
    expect(upstream.received[0]?.connection).toBe(stale);
    expect(upstream.received[1]?.connection).not.toBe(stale);
  });

  it('sends a PUT again with its body', async () => {
    await staleConnectionAhead();

    expect((await send('PUT', '/items/a', 'replacement')).status).toBe(204);
    const lines = upstream.received.map((request) => request.line);
    expect(lines).toEqual(['PUT /items/a', 'PUT /items/a']);
    expect(upstream.received[1]?.body).toBe('replacement');
  });

  it('answers 502 to a POST', async () => {
    await staleConnectionAhead();

    const response = await send('POST', '/items', 'new item');
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ code: 'bad_gateway' });
    expect(upstream.received.map((request) => request.line)).toEqual(['POST /items']);
  });

  it('sends a request again only once', async () => {
    upstream.closeEvery = true;

    const response = await send('GET', '/items/a');
    expect(response.status).toBe(502);
    expect(upstream.received.map((request) => request.line)).toEqual(['GET /items/a', 'GET /items/a']);
  });

  it('logs the closed connection', async () => {
    await staleConnectionAhead();
    const before = server.logs.length;

    expect((await send('GET', '/items/b')).status).toBe(204);
    const messages = server.logs.slice(before).map((line) => (JSON.parse(line) as { msg?: string }).msg);
    expect(messages).toContain('upstream connection closed before the response; request sent again on another connection');
    expect(messages).not.toContain('upstream request failed');
  });
});

describe('gateway retry within the upstream timeout', () => {
  const UPSTREAM_TIMEOUT_MS = 3000;
  const sockets = new Set<Socket>();
  let attempts = 0;
  let server: TestServer;
  let token: string;
  let upstreamServer: Server;

  beforeAll(async () => {
    // The first attempt is dropped late in the upstream timeout, and the second gets no response.
    upstreamServer = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('data', () => {
        attempts += 1;
        if (attempts === 1) {
          setTimeout(() => socket.destroy(), UPSTREAM_TIMEOUT_MS - 500);
        }
      });
    });
    await new Promise<void>((resolve) => upstreamServer.listen(0, '127.0.0.1', resolve));
    const upstreamUrl = `http://127.0.0.1:${(upstreamServer.address() as AddressInfo).port}`;
    const config = await writeConfigFile({ gateway: { upstreamUrl, openapi: FIXTURE, upstreamTimeoutMs: UPSTREAM_TIMEOUT_MS }, rateLimit: { flows: [] } });
    server = await startTestServer({ config });
    token = (await obtainTokens(server, await createUser(server, 'retry_budget_user'))).tokens.access_token;
  });

  afterAll(async () => {
    await server.close();
    sockets.forEach((socket) => socket.destroy());
    await new Promise<void>((resolve) => upstreamServer.close(() => resolve()));
  });

  it('shares the timeout between attempts', async () => {
    const started = Date.now();
    const response = await callApi(server, '/items/slow', token);
    const elapsedMs = Date.now() - started;

    expect(response.status).toBe(504);
    expect(attempts).toBe(2);
    // With a timeout of its own, the second attempt would end near 5.5 s; the shared one ends near 3 s.
    expect(elapsedMs).toBeLessThan(UPSTREAM_TIMEOUT_MS + 2000);
  });
});

describe('gateway retry with identity assertions', () => {
  /** One attempt as the upstream received it: its assertion's jti, its request id header and the result of verifying it. */
  interface Attempt {
    jti: unknown;
    requestIdHeader: string | undefined;
    verifiedRequestId: string | undefined;
    rejection: string | undefined;
  }

  const attempts: Attempt[] = [];
  let upstream: HttpServer;
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    let verifier: IdentityAssertionVerifier | undefined;

    // The upstream verifies each assertion, as a service with the library
    // does, and then closes the connection of the first attempt without a
    // response, so the gateway sends the request again.
    upstream = createHttpServer((request, response) => {
      const assertion = request.headers['x-portcullis-identity'] as string;
      const attempt: Attempt = {
        jti: decodeJwt(assertion).jti,
        requestIdHeader: request.headers['x-portcullis-request-id'] as string | undefined,
        verifiedRequestId: undefined,
        rejection: undefined,
      };
      attempts.push(attempt);

      void (verifier as IdentityAssertionVerifier).verify(assertion, request.method ?? '', request.url ?? '').then(
        (verified) => {
          attempt.verifiedRequestId = verified.requestId;
          if (attempts.length === 1) {
            request.socket.destroy();
            return;
          }
          response.setHeader('content-type', 'application/json');
          response.end('{"items":[],"next_cursor":null}');
        },
        (error: unknown) => {
          attempt.rejection = error instanceof InvalidIdentityAssertionError ? error.reason : String(error);
          response.statusCode = 401;
          response.end();
        },
      );
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));

    server = await startTestServer({ upstreamUrl: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` });
    token = (await obtainTokens(server, await createUser(server, 'retry_assertion_user'))).tokens.access_token;
    const keys = (await (await fetch(`${server.url}/.well-known/portcullis-identity-jwks.json`)).json()) as JSONWebKeySet;
    verifier = new IdentityAssertionVerifier({ issuer: server.issuer, audience: `${server.issuer}/api`, keys });
  });

  afterAll(async () => {
    await server.close();
    upstream.closeAllConnections();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  });

  it('signs a fresh assertion for the retry', async () => {
    const response = await callApi(server, '/orders', token);
    const requestId = response.headers.get('x-request-id');

    expect(response.status).toBe(200);
    expect(attempts).toHaveLength(2);
    expect(attempts[0]?.rejection).toBeUndefined();
    expect(attempts[1]?.rejection).toBeUndefined();
    expect(attempts[0]?.jti).toBe(requestId);
    expect(attempts[1]?.jti).toBe(`${requestId}.2`);
    expect(attempts[0]?.verifiedRequestId).toBe(requestId);
    expect(attempts[1]?.verifiedRequestId).toBe(requestId);
    expect(attempts[0]?.requestIdHeader).toBe(requestId);
    expect(attempts[1]?.requestIdHeader).toBe(requestId);
  });
});
