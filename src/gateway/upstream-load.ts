/**
 * The requests under way to one upstream, and the bounds on those that wait
 * for a connection.
 *
 * undici's pool queues a request while all its connections are busy, with
 * no limit on the queue or on the wait: its headers timeout starts only once
 * the request is written. Behind a slow upstream, requests would pile up in
 * memory and callers would wait for minutes. The gateway therefore keeps its
 * own bounded queue in front of each pool and rejects a request with 503 once
 * a set number wait. A request that waits gets the upstream timeout for the
 * wait and the response headers together.
 */

import { ProblemError } from '../core/problem.js';

/** How long a caller should wait before sending a request again that found every upstream connection busy, in seconds. */
const BUSY_RETRY_AFTER_SECONDS = 1;

export interface UpstreamLoadOptions {
  /** Connections of the pool. */
  connections: number;
  /** Requests that may wait for a connection; one more gets 503. */
  queueLimit: number;
}

/**
 * Hands out the connections of one upstream pool: at most `connections`
 * requests go to the pool at once, and up to `queueLimit` more wait here,
 * first come first served. Waiting here rather than in the pool lets a
 * request that is given up leave the queue at once, without holding a
 * place until a connection frees and without costing a connection when it
 * would be aborted there.
 */
export class UpstreamLoad {
  readonly #connections: number;
  readonly #queueLimit: number;
  #sent = 0;
  /** The requests waiting for a connection, in arrival order; each is started with its function. */
  readonly #waiting = new Set<() => void>();

  constructor(options: UpstreamLoadOptions) {
    this.#connections = options.connections;
    this.#queueLimit = options.queueLimit;
  }

  /** Requests in the pool or waiting for it. */
  get underWay(): number {
    return this.#sent + this.#waiting.size;
  }

  /** True when a new request would find every connection busy and the queue full. */
  get full(): boolean {
    return this.#sent >= this.#connections && this.#waiting.size >= this.#queueLimit;
  }

  /** Takes a connection for a request that goes to the pool now; false when every connection is taken. */
  take(): boolean {
    if (this.#sent >= this.#connections) {
      return false;
    }
    this.#sent += 1;
    return true;
  }

  /** Queues a request, which `start` sends once a connection is taken for it; false when the queue is full. */
  wait(start: () => void): boolean {
    if (this.#waiting.size >= this.#queueLimit) {
      return false;
    }
    this.#waiting.add(start);
    return true;
  }

  /** Removes a request from the queue; false when it was not waiting. */
  withdraw(start: () => void): boolean {
    return this.#waiting.delete(start);
  }

  /** Gives back the connection of a request whose response has ended, to the first request waiting if any. */
  release(): void {
    const [next] = this.#waiting;
    if (next === undefined) {
      this.#sent -= 1;
      return;
    }

    // Started after the current undici callback, which may be the one that
    // ended the previous response on this connection.
    this.#waiting.delete(next);
    queueMicrotask(next);
  }
}

/** The reason a request left the queue without a connection, never sent to anyone. */
export class ConnectionWaitTimeout extends Error {
  constructor() {
    super('no upstream connection became free before the upstream timeout');
    this.name = 'ConnectionWaitTimeout';
  }
}

/** Returns the 503 for a request that found every upstream connection busy and the queue full, or waited too long in it. */
export function upstreamBusy(): ProblemError {
  return new ProblemError('service_unavailable', 'Every connection to the upstream service is busy. Send the request again later.', {
    headers: { 'retry-after': String(BUSY_RETRY_AFTER_SECONDS) },
  });
}
