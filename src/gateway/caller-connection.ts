/**
 * The caller's side of a forwarded request: when the caller closes its
 * connection before its response is complete, the upstream request is
 * aborted, as a reverse proxy does when its client leaves. The upstream
 * can stop work whose result would be discarded, and the pool connection is
 * free at once rather than when the upstream timeout ends.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

import type { UpstreamExchange } from './upstream-exchange.js';

/** The reason of a cancelled upstream request, never sent to anyone. */
export class CallerLeftError extends Error {
  constructor() {
    super('the caller closed the connection before the response was complete');
    this.name = 'CallerLeftError';
  }
}

/**
 * The reason of an upstream request cancelled because its caller got a
 * response without it, such as the 503 of a shutdown. One instance serves
 * every request, which saves capturing a stack trace that would only point here.
 */
export class ResponseSentError extends Error {
  constructor() {
    super('the response was sent before the upstream responded');
    this.name = 'ResponseSentError';
  }
}

const RESPONSE_SENT = new ResponseSentError();

/**
 * Cancellations of queued responses, by the caller's socket. A caller may
 * pipeline many requests, and one `close` listener for all of them stays
 * under EventEmitter's default of 10 listeners, past which Node.js warns.
 */
const queuedCancellations = new WeakMap<Socket, Set<() => void>>();

/** Returns the cancellations that run when `socket` closes, and adds its one listener the first time. */
function cancellationsOf(socket: Socket): Set<() => void> {
  const known = queuedCancellations.get(socket);
  if (known !== undefined) {
    return known;
  }

  const cancellations = new Set<() => void>();
  queuedCancellations.set(socket, cancellations);
  socket.once('close', () => {
    queuedCancellations.delete(socket);
    for (const cancel of cancellations) {
      cancel();
    }
  });
  return cancellations;
}

/**
 * Aborts `exchange` when the caller's connection closes before `response`
 * has finished, or when `response` finishes while the exchange is still
 * under way. Listeners cost less per request than an AbortController,
 * and less than tracking exchanges per connection in a WeakMap
 * (BENCHMARKS.md).
 */
export function cancelWhenCallerLeaves(request: IncomingMessage, response: ServerResponse, exchange: UpstreamExchange): void {
  const leave = () => exchange.abort(new CallerLeftError());

  // A pipelined request whose response waits behind an earlier one has no
  // socket yet, so its response emits no 'close' when the connection
  // closes. Only such a response waits for the socket, so the WeakMap
  // stays off the path of requests that are not pipelined.
  const queued = response.socket === null ? cancellationsOf(request.socket) : undefined;
  queued?.add(leave);

  response.once('close', () => {
    queued?.delete(leave);
    if (!response.writableFinished) {
      leave();
      return;
    }
    // The gateway relays a response only once its exchange has ended or
    // been discarded, so an exchange under way here lost its caller to
    // another response. A request still queued must then never be sent.
    exchange.abort(RESPONSE_SENT);
  });
}
