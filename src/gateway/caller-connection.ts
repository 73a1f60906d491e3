/**
 * The caller's side of a forwarded request: when the caller closes its
 * connection before its response is complete, the upstream request is
 * aborted, as a reverse proxy does when its client leaves. The upstream
 * can stop work whose result would be discarded, and the pool connection is
 * free at once rather than when the upstream timeout ends.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';

import type { UpstreamExchange } from './upstream-exchange.js';

/** The reason of a cancelled upstream request, never sent to anyone. */
export class CallerLeftError extends Error {
  constructor() {
    super('the caller closed the connection before the response was complete');
    this.name = 'CallerLeftError';
  }
}

/**
 * Aborts `exchange` when the caller's connection closes before `response`
 * has finished. Listeners cost less per request than an AbortController,
 * and less than tracking exchanges per connection in a WeakMap
 * (BENCHMARKS.md).
 */
export function cancelWhenCallerLeaves(request: IncomingMessage, response: ServerResponse, exchange: UpstreamExchange): void {
  const leave = () => exchange.abort(new CallerLeftError());

  // A pipelined request whose response waits behind an earlier one has no
  // socket yet, so its response emits no 'close' when the connection
  // closes. Only such a response needs a listener on the socket.
  const socket = request.socket;
  const queued = response.socket === null;
  if (queued) {
    socket.once('close', leave);
  }

  response.once('close', () => {
    if (queued) {
      socket.removeListener('close', leave);
    }
    if (!response.writableFinished) {
      leave();
    }
  });
}
