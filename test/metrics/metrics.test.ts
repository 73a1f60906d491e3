import { randomUUID } from 'node:crypto';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { defaultRateLimits } from '../../src/config/load.js';
import { API_CONTENT_SECURITY_POLICY } from '../../src/core/security-headers.js';
import { createUser } from '../support/accounts.js';
import { REDIS_URL, writeConfigFile } from '../support/config-file.js';
import { callApi, obtainTokens, openSignInPage, publicClient } from '../support/oauth.js';
import { rawRequest } from '../support/raw-http.js';
import { lastJsonBody, sendRaw, statusCodes } from '../support/raw-socket.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { formEndingWith } from '../support/user-agent.js';
import { parseSamples, sampleValue, type Sample } from './prometheus-text.js';

const JSON_HEADERS = { 'content-type': 'application/json' };

async function scrape(server: TestServer): Promise<Sample[]> {
  const url = server.running.observability.metricsServer?.url;
  if (url === undefined) {
    throw new Error('the metrics listener is not running');
  }
  const response = await fetch(url);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain');
  return parseSamples(await response.text());
}

describe('metrics', () => {
  let server: TestServer;

  beforeAll(async () => {
    const config = await writeConfigFile({ metrics: { enabled: true, host: '127.0.0.1', port: 0 } });
    server = await startTestServer({ config });
  });

  afterAll(async () => {
    await server?.close();
  });

  it('listens on loopback only when turned on', async () => {
    expect(server.running.observability.metricsServer?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);

    const other = await fetch(server.running.observability.metricsServer?.url.replace('/metrics', '/other') ?? '');
    expect(other.status).toBe(404);
    expect(other.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(await other.json()).toMatchObject({ status: 404, code: 'not_found' });
    const post = await fetch(server.running.observability.metricsServer?.url ?? '', { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect(await post.json()).toMatchObject({ status: 405, code: 'method_not_allowed' });

    const plain = await startTestServer();
    try {
      expect(plain.running.observability.metricsServer).toBeUndefined();
      expect(plain.running.app.metrics).toBeUndefined();
    } finally {
      await plain.close();
    }
  });

  it('sends the security headers on every response', async () => {
    const url = server.running.observability.metricsServer?.url ?? '';
    const responses = [
      await rawRequest(url),
      await rawRequest(url, { method: 'HEAD' }),
      await rawRequest(url.replace('/metrics', '/other')),
      await rawRequest(url, { method: 'DELETE' }),
      await rawRequest(url, { headers: { host: 'metrics example' } }),
    ];
    expect(responses.map((response) => response.status)).toEqual([200, 200, 404, 405, 400]);
    for (const { status, headers } of responses) {
      expect(headers['x-content-type-options'], `${status}`).toBe('nosniff');
      expect(headers['content-security-policy'], `${status}`).toBe(API_CONTENT_SECURITY_POLICY);
      expect(headers['x-frame-options'], `${status}`).toBe('DENY');
      expect(headers['cross-origin-resource-policy'], `${status}`).toBe('same-origin');
      expect(headers['cache-control'], `${status}`).toBe('no-store');
    }
  });

  it('rejects malformed requests with problems', async () => {
    const port = Number(new URL(server.running.observability.metricsServer?.url ?? '').port);
    const requests: Array<[string, string, number]> = [
      ['oversized headers', `GET /metrics HTTP/1.1\r\nHost: a\r\nX-Padding: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
      ['lower-case method', 'get /metrics HTTP/1.1\r\nHost: a\r\n\r\n', 400],
      ['CONNECT', 'CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n', 400],
      ['unknown expectation', 'GET /metrics HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n', 417],
      ['transfer coding', 'GET /metrics HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n', 400],
      ['HTTP/2.0', 'GET /metrics HTTP/2.0\r\nHost: a\r\n\r\n', 400],
    ];
    for (const [name, request, status] of requests) {
      const { received, closed } = await sendRaw(port, request);
      expect(statusCodes(received), name).toEqual([status]);
      expect(closed, name).toBe(true);
      const head = received.slice(0, received.indexOf('\r\n\r\n')).toLowerCase();
      expect(head, name).toContain('content-type: application/problem+json; charset=utf-8');
      expect(head, name).toContain('x-content-type-options: nosniff');
      expect(head, name).toContain(`content-security-policy: ${API_CONTENT_SECURITY_POLICY.toLowerCase()}`);
      expect(head, name).toContain('x-frame-options: deny');
      expect(head, name).toContain('cache-control: no-store');
      expect(lastJsonBody(received), name).toMatchObject({ status });
    }
  });

  it('serves absolute-form request targets', async () => {
    const port = Number(new URL(server.running.observability.metricsServer?.url ?? '').port);
    const { received } = await sendRaw(port, `GET http://127.0.0.1:${port}/metrics HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
    expect(statusCodes(received)).toEqual([200]);
    expect(received).toContain('portcullis_http_requests_total');
  });

  it('counts a known sequence exactly', async () => {
    const user = await createUser(server, 'metered_user');
    const before = await scrape(server);
    const count = (samples: Sample[], name: string, labels: Record<string, string>) =>
      sampleValue(samples, name, labels) - sampleValue(before, name, labels);

    for (let attempt = 0; attempt < 3; attempt += 1) {
      expect((await callApi(server, '/orders', undefined)).status).toBe(401);
    }
    for (let attempt = 0; attempt < 2; attempt += 1) {
      expect((await callApi(server, '/orders', 'not-a-jwt')).status).toBe(401);
    }
    expect((await fetch(`${server.url}/api/no-such-operation/4711?q=private`)).status).toBe(401);

    const { agent, html } = await openSignInPage(server);
    await agent.submit(formEndingWith(html, '/login'), { username: user.username, password: 'Wrong-Passw0rd-1' });

    const config = await publicClient(server);
    const { tokens } = await obtainTokens(server, user, config);
    await client.refreshTokenGrant(config, tokens.refresh_token as string);

    for (let read = 0; read < 2; read += 1) {
      expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(200);
    }
    const created: number[] = [];
    for (let order = 0; order < 6; order += 1) {
      const response = await callApi(server, '/orders', tokens.access_token, { method: 'POST', headers: JSON_HEADERS, body: '{"item":"x","quantity":1}' });
      created.push(response.status);
    }
    expect(created).toEqual([201, 201, 201, 201, 201, 429]);

    // The failed sign-in is recorded after its response, so wait for it.
    const after = await vi.waitFor(
      async () => {
        const samples = await scrape(server);
        expect(count(samples, 'portcullis_authentication_failures_total', { reason: 'login_invalid_credentials' })).toBe(1);
        return samples;
      },
      { timeout: 5000, interval: 100 },
    );

    const requests = 'portcullis_http_requests_total';
    expect(count(after, requests, { method: 'GET', route: '/api/orders', status: '401' })).toBe(5);
    expect(count(after, requests, { method: 'GET', route: '/api/orders', status: '200' })).toBe(2);
    expect(count(after, requests, { method: 'POST', route: '/api/orders', status: '201' })).toBe(5);
    expect(count(after, requests, { method: 'POST', route: '/api/orders', status: '429' })).toBe(1);
    expect(count(after, requests, { method: 'GET', route: 'unmatched', status: '401' })).toBe(1);
    expect(count(after, requests, { method: 'POST', route: '/oauth/*', status: '200' })).toBe(2);

    const failures = 'portcullis_authentication_failures_total';
    expect(count(after, failures, { reason: 'missing_credentials' })).toBe(4);
    expect(count(after, failures, { reason: 'invalid_access_token' })).toBe(2);

    expect(count(after, 'portcullis_rate_limit_rejections_total', { policy: 'order-creation' })).toBe(1);
    expect(count(after, 'portcullis_tokens_issued_total', { grant_type: 'authorization_code' })).toBe(1);
    expect(count(after, 'portcullis_tokens_issued_total', { grant_type: 'refresh_token' })).toBe(1);

    const latency = 'portcullis_upstream_request_duration_seconds_count';
    expect(count(after, latency, { method: 'GET', route: '/api/orders' })).toBe(2);
    expect(count(after, latency, { method: 'POST', route: '/api/orders' })).toBe(5);
    expect(count(after, 'portcullis_store_errors_total', { store: 'redis' })).toBe(0);

    const labelValues = after.flatMap((sample) => Object.values(sample.labels));
    expect(labelValues.some((value) => value.includes('no-such-operation') || value.includes(user.id))).toBe(false);
  });
});

describe('metrics of the rate-limit store', () => {
  const proxy = new TcpProxy(Number(new URL(REDIS_URL).port || 6379));
  let server: TestServer;

  beforeAll(async () => {
    await proxy.start();
    const defaults = defaultRateLimits();
    const config = await writeConfigFile({
      metrics: { enabled: true, host: '127.0.0.1', port: 0 },
      rateLimit: {
        ...defaults,
        store: 'redis',
        redisUrl: `redis://127.0.0.1:${proxy.port}`,
        storeTimeoutMs: 200,
        global: { ...defaults.global, name: `metrics-${randomUUID().slice(0, 8)}` },
      },
    });
    server = await startTestServer({ config });
  });

  afterAll(async () => {
    await server?.close();
    await proxy.stop().catch(() => undefined);
  });

  it('counts Redis errors', async () => {
    const before = sampleValue(await scrape(server), 'portcullis_store_errors_total', { store: 'redis' });

    await proxy.stop();
    for (let attempt = 0; attempt < 3; attempt += 1) {
      // The global limit fails open, so the request still reaches authentication.
      expect((await callApi(server, '/orders', undefined)).status).toBe(401);
    }

    const after = sampleValue(await scrape(server), 'portcullis_store_errors_total', { store: 'redis' });
    await proxy.start(proxy.port);
    expect(after - before).toBe(3);
  });
});
