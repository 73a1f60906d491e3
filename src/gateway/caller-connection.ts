/**
 * The caller's side of forwarded requests: when a caller's connection
 * closes, the upstream requests still in flight for it are aborted, as a
 * reverse proxy does when its client leaves. The upstream can stop work
 * whose result nobody reads, and the pool connection is free at once rather
 * than when the upstream timeout ends.
 */

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
 * A caller's connection and the upstream exchanges in flight for its
 * requests. One object per connection, rather than a listener per request,
 * keeps the cost off the requests of a keep-alive connection.
 */
export class CallerConnection {
  left = false;
  readonly #exchanges = new Set<UpstreamExchange>();

  constructor(socket: Socket) {
    socket.once('close', () => {
      this.left = true;
      for (const exchange of this.#exchanges) {
        exchange.abort(new CallerLeftError());
      }
      this.#exchanges.clear();
    });
  }

  /** Aborts `exchange` when the connection closes before the exchange is over, or at once when it has closed already. */
  track(exchange: UpstreamExchange): void {
    if (this.left) {
      exchange.abort(new CallerLeftError());
      return;
    }
    this.#exchanges.add(exchange);
    exchange.onSettled = () => this.#exchanges.delete(exchange);
  }
}

const callerConnections = new WeakMap<Socket, CallerConnection>();

/** Returns the CallerConnection of `socket`, made on its first request. */
export function callerConnectionOf(socket: Socket): CallerConnection {
  let connection = callerConnections.get(socket);
  if (connection === undefined) {
    connection = new CallerConnection(socket);
    callerConnections.set(socket, connection);
  }
  return connection;
}
