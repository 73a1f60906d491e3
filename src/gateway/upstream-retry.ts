/**
 * The rule for sending a request again after its upstream connection closed.
 *
 * The pool keeps upstream connections alive between requests, and an
 * upstream may close one as idle just as the gateway writes the next
 * request on it. The request then fails before any response byte arrives,
 * usually before the upstream has read it. A reverse proxy sends such a
 * request again on another connection when its method is idempotent (RFC
 * 9110 section 9.2.2): doing so has the effect of one request even if the
 * upstream did process the first. Other methods get the 502, since the
 * gateway cannot tell whether the upstream acted on them.
 */

import type { Dispatcher } from 'undici';

import { errorCode } from './upstream-client.js';

/** Methods whose repetition has the effect of one request (RFC 9110 section 9.2.2). */
const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/**
 * Error codes of a connection that the upstream closed or reset. A refused
 * or timed-out connection attempt is not among them, because a new attempt
 * would likely fail the same way and double the caller's wait.
 */
const CLOSED_CONNECTION_CODES: ReadonlySet<string> = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

/** Tells whether a request that failed with `error` before its response headers may be sent once more. */
export function isRetriable(method: Dispatcher.HttpMethod, error: unknown): boolean {
  const code = errorCode(error);
  return IDEMPOTENT_METHODS.has(method) && code !== undefined && CLOSED_CONNECTION_CODES.has(code);
}
