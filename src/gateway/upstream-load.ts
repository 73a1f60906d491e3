/**
 * The requests under way to one upstream, and the bounds on those that wait
 * for a connection.
 *
 * undici's pool queues a request while all its connections are busy, with
 * no limit on the queue or on the wait: its headers timeout starts only once
 * the request is written. Behind a slow upstream, requests would pile up in
 * memory and callers would wait for minutes. The gateway therefore counts the
 * requests it has sent to each pool and rejects a request with 503 once a set
 * number wait. A request that waits gets the upstream timeout for the wait
 * and the response headers together.
 */

import { ProblemError } from '../core/problem.js';

/** How long a caller should wait before sending a request again that found every upstream connection busy, in seconds. */
const BUSY_RETRY_AFTER_SECONDS = 1;

/** The state of a request when it is counted in. */
export type Admission = 'connection free' | 'queued' | 'queue full';

export interface UpstreamLoadOptions {
  /** Connections of the pool. */
  connections: number;
  /** Requests that may wait for a connection; one more gets 503. */
  queueLimit: number;
}

/** Counts the requests sent to one upstream pool whose responses have not ended. */
export class UpstreamLoad {
  readonly #connections: number;
  readonly #queueLimit: number;
  #underWay = 0;

  constructor(options: UpstreamLoadOptions) {
    this.#connections = options.connections;
    this.#queueLimit = options.queueLimit;
  }

  /** Requests whose responses have not ended, including those waiting for a connection. */
  get underWay(): number {
    return this.#underWay;
  }

  /** Counts a request in, unless the queue is full. Every admitted request must be counted out with `release`. */
  admit(): Admission {
    if (this.#underWay >= this.#connections + this.#queueLimit) {
      return 'queue full';
    }

    this.#underWay += 1;
    return this.#underWay > this.#connections ? 'queued' : 'connection free';
  }

  release(): void {
    this.#underWay -= 1;
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
