import type { Socket } from 'node:net';
import type { IncomingMessage, Server } from 'node:http';
import type { FastifyInstance, FastifyReply } from 'fastify';

import { ProblemError } from '../core/problem.js';
import { connectionList } from './connection-list.js';
import { currentResponse, sendProblem } from './problems.js';

/** Seconds a client is asked to wait before it retries a request that met a shutdown. */
const SHUTDOWN_RETRY_AFTER_SECONDS = 1;

/** How long responses sent at the shutdown deadline may take to go out before every connection is cut, in milliseconds. */
const FLUSH_MS = 500;

/** How often a shutdown closes the keep-alive connections that went idle, in milliseconds. */
const IDLE_SWEEP_MS = 100;

/** The replies of the requests a connection has delivered and not yet finished, oldest first. */
const REPLIES = Symbol('portcullis.replies');

type TrackedSocket = Socket & { [REPLIES]?: FastifyReply[] };

/**
 * Builds the 503 of a shutdown. Only the last response on a connection may
 * close it, because Node.js drops the responses queued behind a response
 * that closes its connection, so `closesConnection` is false for the
 * others.
 */
function shutdownProblem(closesConnection: boolean): ProblemError {
  const headers: Record<string, string> = { 'retry-after': String(SHUTDOWN_RETRY_AFTER_SECONDS) };
  if (closesConnection) {
    headers['connection'] = 'close';
  }
  return new ProblemError('service_unavailable', 'The server is shutting down. Retry the request, which it did not process.', { headers });
}

/**
 * Requests that went out to another service, which may act on them even
 * when the caller gets no response from it. Its entries go away with their requests.
 */
const forwardedRequests = new WeakSet<IncomingMessage>();

/** Records that `request` was written to an upstream, so that a shutdown no longer reports it to its caller as not processed. */
export function markForwarded(request: IncomingMessage): void {
  forwardedRequests.add(request);
}

/**
 * Builds the problem of a shutdown for a request that went out to an
 * upstream without a response yet. The upstream may have acted on it, so
 * the caller is not asked to send it again.
 */
function forwardedShutdownProblem(closesConnection: boolean): ProblemError {
  const headers: Record<string, string> = closesConnection ? { connection: 'close' } : {};
  return new ProblemError('gateway_timeout', 'The server shut down before the upstream service responded. The upstream may have processed the request.', {
    headers,
  });
}

function isFinished(reply: FastifyReply): boolean {
  return reply.raw.writableFinished || reply.raw.destroyed;
}

/** Returns the replies of `socket` that have not finished, oldest first. */
function unfinishedReplies(socket: TrackedSocket): FastifyReply[] {
  return (socket[REPLIES] ?? []).filter((reply) => !isFinished(reply));
}

/** Removes `reply` from the replies of `socket`, where it is usually the first. */
function release(socket: TrackedSocket, reply: FastifyReply): void {
  const replies = socket[REPLIES];
  if (replies === undefined) {
    return;
  }
  // shift, unlike splice, allocates no array for the removed reply.
  if (replies[0] === reply) {
    replies.shift();
    return;
  }
  const index = replies.indexOf(reply);
  if (index !== -1) {
    replies.splice(index, 1);
  }
}

/**
 * Replaces `server.closeIdleConnections`, which `server.close()` calls too,
 * with one that also spares connections that still have a response to
 * write. Node.js 20 closes a connection as idle once its current response
 * has ended, even while the response is still being written to a slow
 * client, and even when pipelined responses wait behind it, so both would
 * be cut. The connections it spares are closed by a later call, or with
 * their last response.
 */
function spareConnectionsWithResponses(server: Server): void {
  const closeIdle = server.closeIdleConnections.bind(server);
  server.closeIdleConnections = () => {
    const list = connectionList(server);
    if (list === undefined) {
      // NOTE: A Node.js version without this internal list gets its own
      // behaviour back, which may cut responses as described above.
      closeIdle();
      return;
    }
    for (const parser of list.idle()) {
      if (currentResponse(parser.socket) === undefined && parser.socket.writableLength === 0) {
        parser.socket.destroy();
      }
    }
  };
}

/**
 * Stops an app the way a load balancer expects. Once `start` is called,
 * the listener takes no new connections, and a request that arrives on an
 * open keep-alive connection gets a 503 problem document with
 * `Connection: close`. Requests already running may finish, and close
 * their connections, until `endNow`, which responds to each one that has
 * not sent its response head with the same 503, or a 504 once
 * `markForwarded` recorded it, and then cuts every connection. A response whose head went out cannot be replaced, so its
 * connection is cut mid-body.
 *
 * The running requests are found through their connections. Each
 * connection keeps the replies it has not finished, and an onResponse
 * hook removes each reply once it has finished, so a request costs no
 * listener of its own. Fastify's `return503OnClosing` would
 * send a JSON body that is not a problem document, without the security
 * headers, so the app must be created with it off.
 */
export class GracefulShutdown {
  readonly #connections = new Set<TrackedSocket>();
  #app: FastifyInstance | undefined;
  #closing = false;
  /** Replies that `endNow` ended, so that a second call counts none of them again. */
  readonly #endedReplies = new WeakSet<FastifyReply>();
  #ended = 0;

  /** Tracks the connections of `app`'s server. `createHttpApp` calls it. */
  watch(app: FastifyInstance): void {
    this.#app = app;
    spareConnectionsWithResponses(app.server);
    app.server.on('connection', (socket: TrackedSocket) => {
      this.#connections.add(socket);
      socket.once('close', () => this.#connections.delete(socket));
    });
    // A finished reply references its request and body, which an idle
    // kept-alive connection would otherwise keep until its next request.
    app.addHook('onResponse', (request, reply, done) => {
      release(request.raw.socket as TrackedSocket, reply);
      done();
    });
  }

  /**
   * Registers a request that has arrived, or returns the 503 problem when
   * the shutdown has begun. The app's first onRequest hook calls it.
   */
  admit(request: IncomingMessage, reply: FastifyReply): ProblemError | undefined {
    if (this.#closing) {
      return shutdownProblem(true);
    }

    const socket = request.socket as TrackedSocket;
    const replies = socket[REPLIES];
    if (replies === undefined) {
      socket[REPLIES] = [reply];
      return undefined;
    }

    // Requests on one connection finish in order, so the finished ones
    // are at the front. The onResponse hook removes finished replies, so
    // this only drops a reply that finished without running it.
    while (replies.length > 0 && isFinished(replies[0] as FastifyReply)) {
      replies.shift();
    }
    replies.push(reply);
    return undefined;
  }

  /** Requests that started and have not finished yet. */
  get running(): number {
    return [...this.#unfinished()].length;
  }

  /** Requests that the shutdown ended with a 503 or by closing their connection. */
  get ended(): number {
    return this.#ended;
  }

  /** Stops listening and resolves once every connection has closed. */
  start(): Promise<void> {
    const app = this.#requireApp();
    this.#closing = true;

    // A connection left idle would stay open until its keep-alive timeout.
    // So the newest running request of each connection closes it with its
    // response, and a sweep closes the connections whose last response
    // went out before the shutdown as soon as they are idle. Closing after
    // an older request would drop the responses of the pipelined requests
    // behind it, which are running too.
    for (const socket of this.#connections) {
      const newest = unfinishedReplies(socket).at(-1);
      if (newest !== undefined) {
        newest.raw.shouldKeepAlive = false;
      }
    }
    const sweep = setInterval(() => app.server.closeIdleConnections(), IDLE_SWEEP_MS);
    sweep.unref();

    return app.close().finally(() => clearInterval(sweep));
  }

  /** Responds with 503 to every running request that has not sent its response head, then closes every connection. */
  endNow(): void {
    const app = this.#requireApp();
    for (const socket of this.#connections) {
      const replies = unfinishedReplies(socket);
      for (const [index, reply] of replies.entries()) {
        if (!this.#endedReplies.has(reply)) {
          this.#endedReplies.add(reply);
          this.#ended += 1;
        }
        if (!reply.sent && !reply.raw.headersSent) {
          const closesConnection = index === replies.length - 1;
          sendProblem(reply, forwardedRequests.has(reply.request.raw) ? forwardedShutdownProblem(closesConnection) : shutdownProblem(closesConnection));
        }
      }
    }

    const cut = setTimeout(() => app.server.closeAllConnections(), FLUSH_MS);
    cut.unref();
  }

  *#unfinished(): Generator<FastifyReply> {
    for (const socket of this.#connections) {
      for (const reply of socket[REPLIES] ?? []) {
        if (!isFinished(reply)) {
          yield reply;
        }
      }
    }
  }

  #requireApp(): FastifyInstance {
    if (this.#app === undefined) {
      throw new Error('GracefulShutdown.watch was not called: pass the shutdown to createHttpApp');
    }
    return this.#app;
  }
}
