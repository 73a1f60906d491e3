import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

import { PROBLEM_CONTENT_TYPE, ProblemError, toProblemDocument } from '../core/problem.js';
import { REDACTED } from '../core/log-redaction.js';
import type { Logger } from './logger.js';
import { endAfterEarlierResponses, rawProblemResponse } from './problems.js';

/**
 * Returns a CONNECT target for the log. The target names a host and port,
 * but a client may put credentials before an `@`, as in
 * `user:password@host:443`, so everything before the last `@` is replaced.
 */
export function redactConnectTarget(target: string): string {
  const at = target.lastIndexOf('@');
  return at === -1 ? target : `${REDACTED}@${target.slice(at + 1)}`;
}

/**
 * Rejects the requests that Node.js hands to `server` outside the request
 * handler with a problem document and `headers`, the listener's security
 * headers. Without these listeners Node.js closes a CONNECT connection
 * without a response, and responds to an unknown expectation with a bare 417.
 */
export function rejectUnsupportedRequests(server: Server, headers: Readonly<Record<string, string>>, logger: Logger): void {
  server.on('connect', (request: IncomingMessage, socket: Socket) => {
    logger.info({ method: 'CONNECT', target: redactConnectTarget(request.url ?? ''), remoteAddress: socket.remoteAddress }, 'rejected a CONNECT request');
    const problem = new ProblemError('invalid_request', 'CONNECT is not supported, because this server is not a proxy.');
    // Node.js removed its own listeners from the socket, so without this one a reset would be an uncaught error.
    socket.on('error', () => socket.destroy());
    // A client may have pipelined requests before this one.
    endAfterEarlierResponses(socket, rawProblemResponse(problem, headers));
  });

  // Node.js emits this for an Expect header other than 100-continue in an
  // HTTP/1.1 request, before the request reaches the app.
  server.on('checkExpectation', (request: IncomingMessage, response: ServerResponse) => {
    logger.info({ method: request.method, remoteAddress: request.socket.remoteAddress }, 'rejected a request with an unsupported Expect header');
    const problem = new ProblemError('expectation_failed', 'The Expect header of the request is not supported. Send the request without it, or with Expect: 100-continue.');
    const body = JSON.stringify(toProblemDocument(problem));
    response.writeHead(problem.status, {
      ...headers,
      'content-type': PROBLEM_CONTENT_TYPE,
      'content-length': Buffer.byteLength(body),
      // The client may send the body it held back, so the connection is not reused.
      connection: 'close',
    });
    response.end(body);
  });
}
