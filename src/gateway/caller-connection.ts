/**
 * The caller's side of a forwarded request: when the caller closes its
 * connection before its response is complete, the upstream request is
 * aborted, as a reverse proxy does when its client leaves. The upstream
 * can stop work whose result would be discarded, and the pool connection is
 * free at once rather than when the upstream timeout ends.
 */

import type { ServerResponse } from 'node:http';

import type { UpstreamExchange } from './upstream-exchange.js';

/** The reason of a cancelled upstream request, never sent to anyone. */
export class CallerLeftError extends Error {
  constructor() {
    super('the caller closed the connection before the response was complete');
    this.name = 'CallerLeftError';
  }
}

/**
 * Aborts `exchange` when `response` closes before it finished, which
 * happens when the caller's connection closes. A listener on the response
 * costs less per request than an AbortController, and less than tracking
 * exchanges per connection in a WeakMap (BENCHMARKS.md).
 */
export function cancelWhenCallerLeaves(response: ServerResponse, exchange: UpstreamExchange): void {
  response.once('close', () => {
    if (!response.writableFinished) {
      exchange.abort(new CallerLeftError());
    }
  });
}
