/**
 * One request to the upstream through the connection pool, and its response
 * as it arrives: the status and headers first, then a body that the gateway
 * either reads whole, to check it, or relays as a stream.
 *
 * It uses undici's dispatch interface. undici's `request` wraps every
 * response body in a stream, which costs more than the rest of reading a
 * small JSON body. Here a body read whole is collected from the parser's
 * chunks, and a stream is made only for a body relayed unchanged.
 */

import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { errors, type Dispatcher } from 'undici';

import { markForwarded } from '../http/graceful-shutdown.js';
import { isUpstreamTimeout } from './upstream-client.js';
import { ConnectionWaitTimeout, type UpstreamLoad } from './upstream-load.js';
import { RejectedResponse, bodyReadFailed, bodyTimedOut, bodyTooLarge, type BodyLimits, type UpstreamBody, type UpstreamResponse } from './upstream-response.js';

/** Body bytes kept while the gateway has not asked for the body yet. Beyond them, the connection is paused. */
const UNCLAIMED_BODY_BYTES = 64 * 1024;

/** The request as it goes to the upstream. */
export interface UpstreamRequest {
  /** Request target in origin form: path and query. */
  path: string;
  method: Dispatcher.HttpMethod;
  headers: Record<string, string | string[]>;
  body: Buffer | null;
}

/** The load count and headers timeout of a request sent to a pool. */
export interface QueuedSend {
  /** The connections and queue of the pool; the exchange gives its connection back once when it ends. */
  load: UpstreamLoad;
  /** The caller's request, recorded as forwarded once the pool writes the upstream request. */
  caller?: IncomingMessage;
  /** When the final response headers are due, in `Date.now()` milliseconds; the wait for a connection counts against it. */
  headersDeadline: number;
  /**
   * True when the gateway times `headersDeadline` from the start even if a
   * connection is free, as for a second attempt. A request that waits for a
   * connection is timed from the start in any case. Otherwise undici's
   * headers timeout applies until an informational (1xx) response arrives.
   */
  timed: boolean;
}

/** The consumer of a claimed body's chunks: a whole-body read or a stream. */
interface BodySink {
  data(chunk: Buffer): void;
  end(): void;
  fail(error: Error): void;
}

/** The reason given to undici when the gateway drops a body it does not need. */
class DiscardedBody extends Error {
  constructor() {
    super('the gateway discarded the upstream response body');
    this.name = 'DiscardedBody';
  }
}

function noop(): void {}

function dispatch(dispatcher: Dispatcher, request: UpstreamRequest, handler: Dispatcher.DispatchHandler): void {
  dispatcher.dispatch({ path: request.path, method: request.method, headers: request.headers, body: request.body }, handler);
}

/**
 * The dispatch handler of one upstream request, and the body of its
 * response. `send` resolves with the response head. The body's chunks are
 * kept until `read`, `stream`, `takeComplete` or `discard` claims them.
 */
export class UpstreamExchange implements Dispatcher.DispatchHandler, UpstreamBody {
  #controller: Dispatcher.DispatchController | undefined;
  #abortReason: Error | undefined;
  #head: { resolve: (response: UpstreamResponse) => void; reject: (error: Error) => void } | undefined;

  #chunks: Buffer[] = [];
  #size = 0;
  #ended = false;
  #failure: Error | undefined;
  #sink: BodySink | undefined;
  #claimed = false;
  #start: { resolve: () => void; reject: (failure: RejectedResponse) => void; limits: BodyLimits } | undefined;
  #load: UpstreamLoad | undefined;
  /** True while one of the load's connections is taken for this exchange, which gives it back once. */
  #holdsConnection = false;
  /** Sends the request once the load hands this exchange a connection, while it waits in the queue. */
  #startWhenFree: (() => void) | undefined;
  #caller: IncomingMessage | undefined;
  #waitTimer: NodeJS.Timeout | undefined;
  /** When the final response headers are due, in `Date.now()` milliseconds. */
  #headersDeadline: number | undefined;

  /**
   * Sends the request through `dispatcher` and resolves with the status and
   * headers of the response. With `queued`, the request first takes one of
   * the load's connections, or waits in its queue for one, and gives it back
   * when the exchange ends. It gives up when its final headers have not
   * arrived within the headers timeout. Throws, sending nothing, when the
   * queue is full; check `UpstreamLoad.full` first to avoid that.
   */
  send(dispatcher: Dispatcher, request: UpstreamRequest, queued?: QueuedSend): Promise<UpstreamResponse> {
    const head = new Promise<UpstreamResponse>((resolve, reject) => {
      this.#head = { resolve, reject };
    });
    if (queued === undefined) {
      dispatch(dispatcher, request, this);
      return head;
    }

    this.#load = queued.load;
    this.#caller = queued.caller;
    this.#headersDeadline = queued.headersDeadline;
    if (queued.load.take()) {
      this.#holdsConnection = true;
      if (queued.timed) {
        this.#timeHeaders();
      }
      dispatch(dispatcher, request, this);
      return head;
    }

    const load = queued.load;
    const startWhenFree = () => {
      this.#startWhenFree = undefined;
      // Given up between its turn and now: the connection goes to the next in line.
      if (this.#abortReason !== undefined) {
        load.release();
        return;
      }
      this.#holdsConnection = true;
      dispatch(dispatcher, request, this);
    };
    if (!load.wait(startWhenFree)) {
      throw new Error('the upstream queue is full; check UpstreamLoad.full before sending');
    }
    this.#startWhenFree = startWhenFree;
    this.#timeHeaders();
    return head;
  }

  /**
   * Ends the exchange with `reason`: a pending `send` rejects with it, and
   * a body being read or streamed fails with it. A request still waiting
   * for a pool connection is aborted as soon as it gets one.
   */
  abort(reason: Error): void {
    if (this.#ended || this.#failure !== undefined || this.#abortReason !== undefined) {
      return;
    }

    this.#abortReason = reason;
    if (this.#controller !== undefined) {
      this.#controller.abort(reason);
      return;
    }

    // A request waiting in the load's queue leaves it, and never reaches the pool.
    if (this.#startWhenFree !== undefined && this.#load?.withdraw(this.#startWhenFree) === true) {
      this.#startWhenFree = undefined;
      this.#rejectHead(reason);
      return;
    }

    // The pool aborts a request that has not started only once a connection
    // is free for it, so the head promise rejects now.
    this.#rejectHead(reason);
  }

  // undici's dispatch handler interface

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#abortReason !== undefined) {
      controller.abort(this.#abortReason);
      return;
    }
    if (this.#caller !== undefined) {
      markForwarded(this.#caller);
    }
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    // Informational responses (1xx) come before the final one. Each one
    // restarts undici's headers timeout, so an upstream that keeps sending
    // them would hold the request and its place in the load count for good.
    if (statusCode < 200) {
      this.#timeHeaders();
      return;
    }
    if (this.#head === undefined) {
      return;
    }

    const head = this.#head;
    this.#head = undefined;
    this.#controller = controller;
    clearTimeout(this.#waitTimer);
    head.resolve({ statusCode, headers, body: this });
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#sink !== undefined) {
      this.#sink.data(chunk);
      return;
    }

    this.#chunks.push(chunk);
    this.#size += chunk.length;
    if (this.#size > UNCLAIMED_BODY_BYTES) {
      controller.pause();
    }
    this.#settleStart();
  }

  onResponseEnd(): void {
    this.#ended = true;
    this.#release();
    this.#settleStart();
    this.#sink?.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    this.#failure = this.#abortReason ?? error;
    this.#release();

    if (this.#head !== undefined) {
      this.#rejectHead(this.#failure);
      return;
    }
    this.#settleStart();
    this.#sink?.fail(this.#failure);
  }

  // The response body

  read(limits: BodyLimits): Promise<Buffer> {
    this.#claim();

    if (this.#failure !== undefined) {
      return Promise.reject(this.#readFailure(this.#failure, limits));
    }
    if (this.#size > limits.limitBytes) {
      this.discard();
      return Promise.reject(bodyTooLarge(limits));
    }
    if (this.#ended) {
      return Promise.resolve(this.#body());
    }

    return new Promise((resolve, reject) => {
      const settle = (failure?: RejectedResponse) => {
        clearTimeout(timer);
        this.#sink = undefined;
        if (failure === undefined) {
          resolve(this.#body());
        } else {
          this.discard();
          reject(failure);
        }
      };
      const timer = setTimeout(() => settle(bodyTimedOut(limits)), limits.timeoutMs);

      this.#sink = {
        data: (chunk) => {
          this.#size += chunk.length;
          if (this.#size > limits.limitBytes) {
            settle(bodyTooLarge(limits));
            return;
          }
          this.#chunks.push(chunk);
        },
        end: () => settle(),
        fail: (error) => settle(this.#readFailure(error, limits)),
      };
      this.#controller?.resume();
    });
  }

  stream(): Readable {
    this.#claim();

    const readable = new Readable({
      read: () => this.#controller?.resume(),
      destroy: (error, callback) => {
        this.discard();
        callback(error);
      },
    });
    // Fastify and pipe also listen for errors. This listener keeps a failure
    // that arrives after they stopped listening from becoming an uncaught exception.
    readable.on('error', noop);

    for (const chunk of this.#chunks) {
      readable.push(chunk);
    }
    this.#chunks = [];

    if (this.#failure !== undefined) {
      readable.destroy(this.#failure);
    } else if (this.#ended) {
      readable.push(null);
    } else {
      this.#sink = {
        data: (chunk) => {
          if (!readable.push(chunk)) {
            this.#controller?.pause();
          }
        },
        end: () => readable.push(null),
        fail: (error) => readable.destroy(error),
      };
      this.#controller?.resume();
    }
    return readable;
  }

  started(limits: BodyLimits): Promise<void> | undefined {
    if (this.#failure !== undefined) {
      throw this.#readFailure(this.#failure, limits);
    }
    if (this.#ended || this.#size > 0) {
      return undefined;
    }

    return new Promise((resolve, reject) => {
      this.#start = { resolve, reject, limits };
    });
  }

  takeComplete(): Buffer | undefined {
    if (!this.#ended || this.#claimed) {
      return undefined;
    }

    this.#claimed = true;
    return this.#body();
  }

  discard(): void {
    this.#claimed = true;
    this.#sink = undefined;
    this.#chunks = [];
    this.abort(new DiscardedBody());
  }

  #rejectHead(reason: Error): void {
    const head = this.#head;
    this.#head = undefined;
    clearTimeout(this.#waitTimer);
    head?.reject(reason);
  }

  /** Gives the exchange's connection back to the load once its response has ended or failed. */
  #release(): void {
    clearTimeout(this.#waitTimer);
    if (this.#holdsConnection) {
      this.#holdsConnection = false;
      this.#load?.release();
    }
  }

  /**
   * Ends an exchange whose headers did not arrive within the wait limit: a
   * request still queued gets ConnectionWaitTimeout, one already sent the
   * same error as undici's own headers timeout.
   */
  #waitExpired(): void {
    this.abort(this.#controller === undefined ? new ConnectionWaitTimeout() : new errors.HeadersTimeoutError());
  }

  /** Starts the gateway's own timer for the final headers, unless it runs already. */
  #timeHeaders(): void {
    if (this.#waitTimer !== undefined || this.#headersDeadline === undefined) {
      return;
    }
    this.#waitTimer = setTimeout(() => this.#waitExpired(), Math.max(0, this.#headersDeadline - Date.now()));
  }

  /** Settles a pending `started` once a chunk, the end or a failure arrives. */
  #settleStart(): void {
    const start = this.#start;
    if (start === undefined) {
      return;
    }

    this.#start = undefined;
    if (this.#failure === undefined) {
      start.resolve();
    } else {
      start.reject(this.#readFailure(this.#failure, start.limits));
    }
  }

  #claim(): void {
    if (this.#claimed) {
      throw new Error('The upstream response body was already claimed; read, stream or discard it only once.');
    }
    this.#claimed = true;
  }

  #body(): Buffer {
    const body = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#size);
    this.#chunks = [];
    return body;
  }

  #readFailure(error: Error, limits: BodyLimits): RejectedResponse {
    return isUpstreamTimeout(error) ? bodyTimedOut(limits) : bodyReadFailed(error);
  }
}
