import type { ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { createUser } from '../support/accounts.js';
import { writeConfigFile } from '../support/config-file.js';
import { callApi, obtainTokens } from '../support/oauth.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../support/scripted-upstream.js';
import { startTestServer, type TestServer } from '../support/server.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/response-checks.yaml', import.meta.url));

interface Problem {
  code: string;
  detail: string;
}

describe('gateway upstream queue', () => {
  const cleanups: Array<() => Promise<void>> = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup();
    }
  });

  /** Starts an upstream that keeps every response pending until the test sends it. */
  async function pendingUpstream(): Promise<{ upstream: ScriptedUpstream; pending: ServerResponse[] }> {
    const upstream = await startScriptedUpstream();
    const pending: ServerResponse[] = [];
    upstream.respond((_request, response) => {
      pending.push(response);
    });
    cleanups.push(() => upstream.close());
    return { upstream, pending };
  }

  /** Starts an upstream that keeps every response pending and records the path of each request it receives. */
  async function recordingUpstream(): Promise<{ upstream: ScriptedUpstream; pending: ServerResponse[]; received: string[] }> {
    const { upstream, pending } = await pendingUpstream();
    const received: string[] = [];
    upstream.respond((request, response) => {
      received.push(request.url ?? '');
      pending.push(response);
    });
    return { upstream, pending, received };
  }

  async function startGateway(upstreamUrl: string, gateway: Record<string, unknown>): Promise<{ server: TestServer; token: string }> {
    const config = await writeConfigFile({ gateway: { upstreamUrl, openapi: FIXTURE, ...gateway }, rateLimit: { flows: [] } });
    const server = await startTestServer({ config });
    cleanups.push(() => server.close());
    const token = (await obtainTokens(server, await createUser(server, 'queue_user'))).tokens.access_token;
    return { server, token };
  }

  /** Starts a gateway with a short shutdown timeout, which the test shuts down with `shutDown`. */
  async function startStoppableGateway(
    upstreamUrl: string,
    gateway: Record<string, unknown>,
    user: string,
  ): Promise<{ server: TestServer; token: string; shutDown: () => Promise<void> }> {
    const config = await writeConfigFile({
      shutdownTimeoutMs: 200,
      gateway: { upstreamUrl, openapi: FIXTURE, upstreamTimeoutMs: 20_000, ...gateway },
      rateLimit: { flows: [] },
    });
    const server = await startTestServer({ config });
    let closed: Promise<void> | undefined;
    cleanups.push(() => closed ?? server.close());
    const token = (await obtainTokens(server, await createUser(server, user))).tokens.access_token;
    return { server, token, shutDown: () => (closed ??= server.close()) };
  }

  /** Polls `condition` until it returns true, for up to 10 s. */
  async function waitFor(condition: () => boolean): Promise<void> {
    await vi.waitFor(() => expect(condition()).toBe(true), { timeout: 10_000, interval: 20 });
  }

  function sendAll(pending: ServerResponse[]): void {
    for (const response of pending.splice(0)) {
      response.writeHead(204).end();
    }
  }

  it('answers 503 beyond the queue limit', async () => {
    const { upstream, pending } = await pendingUpstream();
    const { server, token } = await startGateway(upstream.url, { upstreamConnections: 2, upstreamQueueLimit: 2, upstreamTimeoutMs: 20_000 });

    // Of five requests, two take the connections, two wait for them and
    // one, whichever comes last, finds the queue full.
    const responses = [1, 2, 3, 4, 5].map((index) => callApi(server, `/widgets/w${index}`, token));
    await waitFor(() => pending.length === 2);

    const rejected = await Promise.race(responses);
    expect(rejected.status).toBe(503);
    expect(rejected.headers.get('retry-after')).toBe('1');
    const problem = (await rejected.json()) as Problem;
    expect(problem.code).toBe('service_unavailable');
    expect(problem.detail).toBe('Every connection to the upstream service is busy. Send the request again later.');

    sendAll(pending);
    await waitFor(() => pending.length === 2);
    sendAll(pending);
    const statuses = await Promise.all(responses.map(async (response) => (await response).status));
    expect(statuses.toSorted()).toEqual([204, 204, 204, 204, 503]);
  });

  it('frees the places of ended requests', async () => {
    const { upstream, pending } = await pendingUpstream();
    const { server, token } = await startGateway(upstream.url, { upstreamConnections: 1, upstreamQueueLimit: 1, upstreamTimeoutMs: 20_000 });

    // One after another, far more requests than connections and queue places together.
    for (let index = 0; index < 6; index += 1) {
      const response = callApi(server, `/widgets/s${index}`, token);
      await waitFor(() => pending.length === 1);
      sendAll(pending);
      expect((await response).status, `request ${index}`).toBe(204);
    }
  });

  it('answers 504 to endless 1xx responses', async () => {
    const { upstream } = await pendingUpstream();
    const { server, token } = await startGateway(upstream.url, { upstreamConnections: 1, upstreamQueueLimit: 1, upstreamTimeoutMs: 1000 });

    // Each informational response restarts undici's headers timeout.
    upstream.respond((_request, response) => {
      const hints = setInterval(() => response.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' }), 100);
      response.on('close', () => clearInterval(hints));
    });
    let timer: NodeJS.Timeout | undefined;
    const unanswered = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), 10_000)));

    const response = await Promise.race([callApi(server, '/widgets/hinted', token), unanswered]);
    clearTimeout(timer);
    expect(response, 'no response within 10 s').toBeDefined();
    expect(response?.status).toBe(504);
    expect(((await response?.json()) as Problem).code).toBe('gateway_timeout');
  });

  it('drops a queued request at shutdown', async () => {
    const { upstream, pending, received } = await recordingUpstream();
    const { server, token, shutDown } = await startStoppableGateway(upstream.url, { upstreamConnections: 1, upstreamQueueLimit: 1 }, 'shutdown_user');

    const running = callApi(server, '/widgets/running', token);
    await waitFor(() => pending.length === 1);
    const queued = callApi(server, '/widgets/queued', token);
    // Once it has arrived, the shutdown no longer turns the request away unread.
    await waitFor(() => server.logs.some((line) => line.includes('/api/widgets/queued')));

    // The shutdown responds to the queued caller with a 503 stating that the
    // request was not processed, so the request must not go out later.
    const closed = shutDown();
    expect((await running).status).toBe(504);
    const queuedResponse = await queued;
    expect(queuedResponse.status).toBe(503);
    expect(((await queuedResponse.json()) as Problem).code).toBe('service_unavailable');
    upstream.respond((request, response) => {
      received.push(request.url ?? '');
      response.writeHead(204).end();
    });
    sendAll(pending);
    await closed;

    expect(received).toEqual(['/widgets/running']);
  });

  it('promises no retry for a forwarded request at shutdown', async () => {
    const { upstream, pending } = await pendingUpstream();
    const { server, token, shutDown } = await startStoppableGateway(upstream.url, {}, 'forwarded_user');

    const forwarded = callApi(server, '/widgets/forwarded', token);
    await waitFor(() => pending.length === 1);
    const closed = shutDown();

    // The upstream has the request and may act on it, so its caller must not send it again.
    const response = await forwarded;
    expect(response.status).toBe(504);
    expect(response.headers.get('retry-after')).toBeNull();
    const problem = (await response.json()) as Problem;
    expect(problem.code).toBe('gateway_timeout');
    expect(problem.detail).toBe('The server shut down before the upstream service responded. The upstream may have processed the request.');
    sendAll(pending);
    await closed;
  });

  it('answers 503 when the wait outlasts the timeout', async () => {
    const { upstream, pending } = await pendingUpstream();
    const { server, token } = await startGateway(upstream.url, { upstreamConnections: 1, upstreamQueueLimit: 4, upstreamTimeoutMs: 1000 });

    // A report streamed a line at a time keeps the only connection busy
    // without reaching the upstream timeout, which applies between chunks.
    upstream.respond((request, response) => {
      if (request.url?.startsWith('/reports/') !== true) {
        pending.push(response);
        return;
      }
      response.writeHead(200, { 'content-type': 'text/csv' });
      const lines = setInterval(() => response.write('line\n'), 100);
      response.on('close', () => clearInterval(lines));
    });
    const streaming = await callApi(server, '/reports/r1', token);
    expect(streaming.status).toBe(200);

    const waiting = await callApi(server, '/widgets/second', token);
    expect(waiting.status).toBe(503);
    expect(((await waiting.json()) as Problem).code).toBe('service_unavailable');
    expect(pending).toHaveLength(0);
    await streaming.body?.cancel();
  });

  it('frees the place of a caller that left', async () => {
    const { upstream, pending, received } = await recordingUpstream();
    const { server, token } = await startGateway(upstream.url, { upstreamConnections: 1, upstreamQueueLimit: 1, upstreamTimeoutMs: 20_000 });

    const running = callApi(server, '/widgets/running', token);
    await waitFor(() => pending.length === 1);
    const leaving = new AbortController();
    const left = callApi(server, '/widgets/left', token, { signal: leaving.signal }).catch((error: unknown) => error);
    await waitFor(() => server.logs.some((line) => line.includes('/api/widgets/left')));
    leaving.abort();
    await left;
    // Queued by now as a rule; a caller that left even before its request was queued frees no place either.
    await waitFor(() => server.logs.some((line) => line.includes('upstream request cancelled') || line.includes('request dropped')));

    // The place in the queue is free at once, not only when the connection is.
    const next = callApi(server, '/widgets/next', token);
    sendAll(pending);
    expect((await running).status).toBe(204);
    await waitFor(() => pending.length === 1);
    sendAll(pending);
    expect((await next).status).toBe(204);
    expect(received).toEqual(['/widgets/running', '/widgets/next']);
  });

  it('keeps the connection after a timed-out wait', async () => {
    const { upstream, pending } = await pendingUpstream();
    const sockets = new Set<unknown>();
    upstream.respond((request, response) => {
      sockets.add(request.socket);
      if (request.url?.startsWith('/reports/') !== true) {
        response.writeHead(204).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'text/csv' });
      const lines = setInterval(() => response.write('line\n'), 100);
      pending.push(response);
      response.on('close', () => clearInterval(lines));
    });
    const { server, token } = await startGateway(upstream.url, { upstreamConnections: 1, upstreamQueueLimit: 1, upstreamTimeoutMs: 1000 });

    const streaming = await callApi(server, '/reports/r1', token);
    expect((await callApi(server, '/widgets/waits', token)).status).toBe(503);
    pending.splice(0).forEach((response) => response.end());
    expect(await streaming.text()).toContain('line');

    // The request given up in the queue never reached the pool, so the kept-alive connection serves the next one.
    expect((await callApi(server, '/widgets/after', token)).status).toBe(204);
    expect(sockets.size).toBe(1);
  });
});
