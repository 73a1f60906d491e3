/**
 * The connection pool to one upstream origin, and the mapping of its
 * failures onto the gateway's 502 and 504 problems.
 */

import { Pool } from 'undici';

import { ProblemError } from '../core/problem.js';

export interface UpstreamClientOptions {
  /** Base URL of the upstream. The pool connects to its origin. */
  url: string;
  /** Maximum number of connections. Further requests wait for a free connection. */
  connections: number;
  /** Maximum time to open a connection, in milliseconds. */
  connectTimeoutMs: number;
  /** Maximum wait for the response headers, and between two chunks of the body, in milliseconds. */
  timeoutMs: number;
}

/**
 * Creates the keep-alive pool that every request to one upstream goes
 * through. Certificates are always verified, and the URL's user name and
 * password are never sent: the pool is built from the origin alone.
 */
export function createUpstreamPool(options: UpstreamClientOptions): Pool {
  return new Pool(new URL(options.url).origin, {
    connections: options.connections,
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    connect: { timeout: options.connectTimeoutMs, rejectUnauthorized: true },
  });
}

/** Returns the `code` that undici and Node.js set on their errors, or undefined when `error` has none. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Tells whether an undici error means that the upstream was too slow, rather than unreachable or broken. */
export function isUpstreamTimeout(error: unknown): boolean {
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : '';
  return (code !== undefined && /timeout/i.test(code)) || /timeout/i.test(message);
}

/** Returns the problem for an upstream request that failed before its response headers arrived. */
export function upstreamFailure(error: unknown): ProblemError {
  return isUpstreamTimeout(error)
    ? new ProblemError('gateway_timeout', 'The upstream service did not respond in time.')
    : new ProblemError('bad_gateway', 'The upstream service is unavailable.');
}
