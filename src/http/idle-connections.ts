import type { Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

import { connectionList } from './connection-list.js';
import { currentResponse } from './problems.js';

/** How often the connections of a server are checked for progress, in milliseconds. */
const CHECK_INTERVAL_MS = 1000;

/** Counters of a connection as the last check saw them. */
interface ConnectionProgress {
  /** Bytes whose writes completed. */
  flushed: number;
  /** Bytes that libuv still had to hand to the kernel. */
  queued: number;
  /** Bytes read from the client. */
  read: number;
  /** The response Node.js was writing or about to write, one per request. */
  response: ServerResponse | undefined;
  /** `Date.now()` of the last check that saw progress, or of the connection's start. */
  progressAt: number;
  /** True once a check saw that the server had sent everything and its FIN. */
  finishedSeen: boolean;
}

/**
 * Returns the bytes that libuv has not yet handed to the kernel. It comes
 * from `_handle.writeQueueSize`, internal to Node.js, and shrinks while a
 * client reads a large response, before the write completes.
 */
function writeQueueSize(socket: Socket): number {
  return (socket as Socket & { _handle?: { writeQueueSize?: number } | null })._handle?.writeQueueSize ?? 0;
}

/**
 * Returns the connections of `server` that are receiving a request, head
 * or body, or undefined when Node.js does not expose its connection list.
 */
function receivingConnections(server: Server): Set<Socket> | undefined {
  const list = connectionList(server);
  if (list === undefined) {
    return undefined;
  }
  return new Set(list.active().map((parser) => parser.socket));
}

/**
 * Watches the connections of `server` and closes each one that makes no
 * progress for `idleTimeoutMs`. Progress is a response byte accepted by the
 * kernel, a new request, or a byte of a request still being received, head
 * or body. Bytes read between requests, such as blank lines sent to keep the
 * connection open, are no progress. Nor are responses that the client
 * does not read. Before its first request, Node.js counts a connection as
 * receiving one, so there blank lines are progress and the request timeout
 * closes the connection. A connection that the server has ended, as after an
 * error response, is closed at the second check after that, even if the
 * client keeps its side open. One timer checks every connection once a
 * second, while the server listens.
 */
export function closeIdleConnections(server: Server, idleTimeoutMs: number, onClose: (socket: Socket, idleMs: number) => void): void {
  const connections = new Map<Socket, ConnectionProgress>();
  let timer: NodeJS.Timeout | undefined;

  const check = () => {
    const now = Date.now();
    const receiving = receivingConnections(server);
    for (const [socket, last] of connections) {
      // The server ended its side, as after an error response, and the
      // client had at least one check interval to read what was sent.
      if (socket.writableFinished) {
        if (last.finishedSeen) {
          socket.destroy();
        }
        last.finishedSeen = true;
        continue;
      }

      const flushed = socket.bytesWritten - socket.writableLength;
      const queued = writeQueueSize(socket);
      const response = currentResponse(socket);
      const isReceiving = receiving === undefined ? response !== undefined && !response.req.complete : receiving.has(socket);

      if (flushed !== last.flushed || queued < last.queued || response !== last.response || (isReceiving && socket.bytesRead !== last.read)) {
        last.progressAt = now;
      } else if (now - last.progressAt >= idleTimeoutMs) {
        onClose(socket, now - last.progressAt);
        socket.destroy();
      }
      last.flushed = flushed;
      last.queued = queued;
      last.read = socket.bytesRead;
      last.response = response;
    }
  };

  server.on('connection', (socket: Socket) => {
    connections.set(socket, { flushed: 0, queued: 0, read: 0, response: undefined, progressAt: Date.now(), finishedSeen: false });
    socket.once('close', () => connections.delete(socket));
  });
  server.on('listening', () => {
    timer ??= setInterval(check, CHECK_INTERVAL_MS);
    // The timer alone must not keep the process running.
    timer.unref();
  });
  server.on('close', () => {
    clearInterval(timer);
    timer = undefined;
  });
}
