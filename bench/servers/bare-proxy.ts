/**
 * A bare node:http reverse proxy with no checks: the ceiling for any Node.js
 * gateway on this machine. With BENCH_VERIFY_JWT=1 it verifies the bearer
 * JWT with jose on every request first and responds with 401 when it is invalid.
 * With BENCH_CLIENT=undici it forwards through an undici Pool, the client
 * that Portcullis uses, instead of node:http's own client.
 *
 * Environment: BENCH_UPSTREAM_URL, BENCH_CLIENT, and for verification
 * BENCH_JWKS, BENCH_ISSUER and BENCH_AUDIENCE.
 */
import { Agent, createServer, request as upstreamRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';

import { accessTokenCheck, announcePort, requireEnv } from '../lib/server-env.js';

const upstream = new URL(requireEnv('BENCH_UPSTREAM_URL'));
const agent = new Agent({ keepAlive: true, maxSockets: 256 });
const pool = process.env['BENCH_CLIENT'] === 'undici' ? new Pool(upstream.origin, { connections: 128 }) : undefined;
/** Request headers that belong to one connection, which undici sets itself. */
const CONNECTION_HEADERS = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'upgrade']);
const checkToken = process.env['BENCH_VERIFY_JWT'] === '1' ? accessTokenCheck() : undefined;

/** Minimum time between two logged upstream errors, in milliseconds, so that a failing upstream cannot flood the output. */
const ERROR_LOG_INTERVAL_MS = 1000;
let lastErrorLoggedAt = 0;
let unloggedErrors = 0;

function logUpstreamError(error: Error): void {
  const now = Date.now();
  if (now - lastErrorLoggedAt < ERROR_LOG_INTERVAL_MS) {
    unloggedErrors += 1;
    return;
  }
  process.stderr.write(`upstream request failed: ${error.message} (${unloggedErrors} more failures since the last message)\n`);
  lastErrorLoggedAt = now;
  unloggedErrors = 0;
}

function proxy(request: IncomingMessage, response: ServerResponse): void {
  const outgoing = upstreamRequest(
    {
      host: upstream.hostname,
      port: upstream.port,
      method: request.method,
      path: request.url,
      headers: request.headers,
      agent,
    },
    (upstreamResponse) => {
      response.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
      upstreamResponse.pipe(response);
    },
  );
  outgoing.on('error', (error) => {
    logUpstreamError(error);
    if (!response.headersSent) {
      response.writeHead(502);
    }
    response.end();
  });
  request.pipe(outgoing);
}

function proxyThroughPool(upstreamPool: Pool, request: IncomingMessage, response: ServerResponse): void {
  const headers = Object.fromEntries(Object.entries(request.headers).filter(([name]) => !CONNECTION_HEADERS.has(name)));
  upstreamPool.request({ method: request.method as 'GET', path: request.url ?? '/', headers, body: request.method === 'GET' ? null : request }).then(
    (upstreamResponse) => {
      response.writeHead(upstreamResponse.statusCode, upstreamResponse.headers);
      upstreamResponse.body.pipe(response);
    },
    (error: Error) => {
      logUpstreamError(error);
      response.writeHead(502);
      response.end();
    },
  );
}

function forward(request: IncomingMessage, response: ServerResponse): void {
  if (pool === undefined) {
    proxy(request, response);
  } else {
    proxyThroughPool(pool, request, response);
  }
}

const server = createServer((request, response) => {
  if (checkToken === undefined) {
    forward(request, response);
    return;
  }
  checkToken(request.headers.authorization).then((valid) => {
    if (valid) {
      forward(request, response);
    } else {
      response.writeHead(401, { 'www-authenticate': 'Bearer' });
      response.end();
    }
  });
});

server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => announcePort((server.address() as AddressInfo).port));
process.once('SIGTERM', () => server.close(() => process.exit(0)));
