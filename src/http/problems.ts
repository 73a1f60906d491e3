import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

import {
  PROBLEM_CONTENT_TYPE,
  ProblemError,
  internalErrorDocument,
  toProblemDocument,
  type ProblemDocument,
} from '../core/problem.js';
import { auditProblem } from '../audit/request-events.js';
import { redactPath } from '../core/log-redaction.js';
import { clientErrorProblem } from '../core/client-error-status.js';
import { describeViolations, type SchemaViolation } from '../core/validation-errors.js';
import { isBackendOutage, outageProblem } from '../backends/outage.js';
import type { ServedMethods } from './served-methods.js';

/** Sends a problem document with the right status, headers and content type. */
export function sendProblem(reply: FastifyReply, error: ProblemError): FastifyReply {
  const document = toProblemDocument(error, reply.request.id);
  return reply
    .code(error.status)
    .headers(error.headers)
    .header('cache-control', 'no-store')
    .type(PROBLEM_CONTENT_TYPE)
    .send(document);
}

/**
 * Maps the errors that Fastify raises for malformed requests onto problem codes.
 *
 * Returns undefined for anything that is not a client error, which the caller
 * then reports as an internal error.
 */
export function problemFromFastifyError(error: FastifyError): ProblemError | undefined {
  if (error instanceof ProblemError) {
    return error;
  }

  if (error.validation !== undefined) {
    const location = error.validationContext ?? 'request';
    const { detail, errors } = describeViolations(error.validation as SchemaViolation[], location);
    return new ProblemError('validation_failed', detail, { errors });
  }

  if (isBackendOutage(error)) {
    return outageProblem(error);
  }

  return clientErrorProblem(error);
}

/**
 * Sends a problem for an error that the router raises before any hook runs,
 * such as a malformed percent-encoding (400) or an over-long path segment
 * (414). Pass it as the `frameworkErrors` option of Fastify, whose default
 * sends a JSON body of its own shape.
 */
export function sendFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const problem = clientErrorProblem(error) ?? new ProblemError('invalid_request', 'The request URL is malformed.');
  request.log.info({ code: error.code }, problem.detail);
  return sendProblem(reply, problem);
}

/**
 * Tells whether `error` is the error of the incoming request stream, which
 * Node.js raises (`aborted`, code ECONNRESET) when the caller closes or
 * resets its connection before the request is complete. Such an error
 * reports the caller leaving, never a fault of the server or a backend.
 */
export function isCallerDisconnect(request: FastifyRequest, error: unknown): boolean {
  return error !== null && error !== undefined && request.raw.errored === error;
}

/** Logs, at info, a caller that closed or reset its connection before its request was complete. */
export function logCallerDisconnect(request: FastifyRequest, error: Error): void {
  request.log.info({ code: (error as { code?: unknown }).code }, 'caller closed the connection before the request was complete, so the request was dropped');
}

/** Logs a caller that left mid-request, and sends a problem only while its connection is still open. */
function handleCallerDisconnect(request: FastifyRequest, reply: FastifyReply, error: Error): FastifyReply | undefined {
  logCallerDisconnect(request, error);
  if (reply.raw.destroyed || request.raw.socket.destroyed) {
    return undefined;
  }
  // NOTE: Node.js 20 raises this error only once the socket has closed, so
  // this response is for a stream destroyed by other means.
  return sendProblem(reply, new ProblemError('invalid_request', 'The request ended before its body was complete.'));
}

/**
 * Builds the 404 problem for a request that no route serves. `path`
 * excludes the query. Its credential-shaped segments are replaced, because
 * the detail is logged.
 */
export function routeNotFound(method: string, path: string): ProblemError {
  return new ProblemError('not_found', `No route matches ${method} ${redactPath(path)}.`);
}

/**
 * Builds the 405 problem for a request whose path is served with other
 * methods, with `Allow` listing them (RFC 9110 section 15.5.6). `path`
 * excludes the query, and its credential-shaped segments are replaced, as
 * in {@link routeNotFound}.
 */
export function methodNotAllowed(method: string, path: string, allowed: readonly string[]): ProblemError {
  const allow = allowed.join(', ');
  return new ProblemError('method_not_allowed', `${redactPath(path)} does not accept ${method}. It accepts ${allow}.`, {
    headers: { allow },
  });
}

/**
 * Builds the problem of a request that no route serves: 405 when a route
 * serves its path with other methods, as `servedMethods` records them,
 * and 404 otherwise.
 */
export function unroutedProblem(request: FastifyRequest, servedMethods?: ServedMethods): ProblemError {
  const path = request.url.split('?')[0] ?? '';
  const allowed = servedMethods?.allowed(path);
  return allowed === undefined ? routeNotFound(request.method, path) : methodNotAllowed(request.method, path, allowed);
}

function logFailure(request: FastifyRequest, error: Error, problem: ProblemError | undefined): void {
  if (problem === undefined) {
    request.log.error({ err: error }, 'request failed');
  } else if (problem.status >= 500 && !problem.alreadyLogged) {
    request.log.error({ err: error, code: problem.code }, 'request failed');
  } else {
    // Debug, because the request's own line already shows the status.
    request.log.debug({ code: problem.code, status: problem.status }, problem.detail);
  }
}

/** Apps whose error and not-found handlers send problem documents already. */
const APPS_WITH_PROBLEM_HANDLERS = new WeakSet<FastifyInstance>();

/**
 * Answers every error and unknown route of `app` with a problem document.
 *
 * Unexpected errors become a 500 whose body carries only the request id; the
 * error itself, with its stack, goes to the log. A caller that left before
 * its request was complete gets no response and an info line. With
 * `servedMethods`, a request whose path a route serves with other methods
 * gets 405 instead of 404.
 */
export function installProblemHandlers(app: FastifyInstance, servedMethods?: ServedMethods): void {
  // The library's plugin installs them too, and Fastify accepts one not-found
  // handler per app. The first install, createHttpApp's with 405s, is kept.
  if (APPS_WITH_PROBLEM_HANDLERS.has(app)) {
    return;
  }
  APPS_WITH_PROBLEM_HANDLERS.add(app);

  app.setErrorHandler((error: FastifyError, request, reply) => {
    // Checked first, because the ECONNRESET code of this error would
    // otherwise count as a backend outage.
    if (isCallerDisconnect(request, error)) {
      return handleCallerDisconnect(request, reply, error);
    }

    const problem = problemFromFastifyError(error);
    logFailure(request, error, problem);

    if (problem !== undefined) {
      auditProblem(request, problem);
      return sendProblem(reply, problem);
    }

    const document: ProblemDocument = internalErrorDocument(request.id);
    return reply.code(500).header('cache-control', 'no-store').type(PROBLEM_CONTENT_TYPE).send(document);
  });

  app.setNotFoundHandler((request, reply) => sendProblem(reply, unroutedProblem(request, servedMethods)));
}

const CLIENT_ERROR_BODIES: Record<string, { code: 'headers_too_large' | 'request_timeout'; detail: string }> = {
  HPE_HEADER_OVERFLOW: {
    code: 'headers_too_large',
    // Node.js counts the request line into the header size limit, so a long URL ends here too.
    detail: 'The request line and headers together are larger than the server accepts. Send a shorter URL, or fewer or smaller headers.',
  },
  ERR_HTTP_REQUEST_TIMEOUT: {
    code: 'request_timeout',
    detail: 'The request was not received in time; send the whole request, headers and body, without pauses.',
  },
};

/** Headers of a response to a request that fails before routing, unless the caller passes its own. */
const DEFAULT_CLIENT_ERROR_HEADERS: Readonly<Record<string, string>> = { 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' };

/** Returns the response that Node.js writes next on a connection, from `_httpMessage`, an internal field of node:http. */
export function currentResponse(socket: Socket): ServerResponse | undefined {
  return (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage ?? undefined;
}

/** Marks a connection whose error response is already written or waiting for earlier responses. */
const CLIENT_ERROR_PENDING = Symbol('portcullis.clientErrorPending');

/**
 * Writes a problem response for requests that fail before routing, such as
 * oversized headers or malformed HTTP, with `headers` (the listener's
 * security headers), then closes the connection.
 *
 * A client may pipeline requests, so complete requests sent before the
 * failing one may still be waiting for their responses. Responses must
 * keep the order of the requests (RFC 9112 section 9.3.2), so the error
 * response waits until those earlier responses are written.
 */
export function handleClientError(error: Error & { code?: string }, socket: Socket, headers: Readonly<Record<string, string>> = DEFAULT_CLIENT_ERROR_HEADERS): void {
  // ECONNRESET means the caller reset the connection, so nothing can reach it.
  if (error.code === 'ECONNRESET' || socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  // Node.js may emit clientError again for later data on the same connection.
  const marked = socket as Socket & { [CLIENT_ERROR_PENDING]?: true };
  if (marked[CLIENT_ERROR_PENDING] === true) {
    return;
  }
  marked[CLIENT_ERROR_PENDING] = true;
  endAfterEarlierResponses(socket, clientErrorResponse(error, headers));
}

/**
 * Writes `data`, a whole raw response, and ends the connection once every
 * complete request received before it has its response written, so that
 * responses keep the order of pipelined requests.
 */
export function endAfterEarlierResponses(socket: Socket, data: string): void {
  const response = currentResponse(socket);
  // A response of a complete request belongs to an earlier request, while
  // a response of an incomplete one belongs to the request that failed.
  if (response !== undefined && response.req.complete && !response.writableFinished) {
    // Node.js hands the connection to the next queued response before it emits 'close'.
    response.once('close', () => endAfterEarlierResponses(socket, data));
    return;
  }
  if (socket.destroyed || !socket.writable || (response !== undefined && response.headersSent)) {
    socket.destroy();
    return;
  }
  socket.end(data);
}

function clientErrorResponse(error: Error & { code?: string }, headers: Readonly<Record<string, string>>): string {
  const known = error.code === undefined ? undefined : CLIENT_ERROR_BODIES[error.code];
  return rawProblemResponse(new ProblemError(known?.code ?? 'invalid_request', known?.detail ?? 'The request is not valid HTTP.'), headers);
}

/**
 * Builds a whole HTTP/1.1 response with the problem document of `problem`,
 * for a connection that no ServerResponse writes to. It ends with
 * `connection: close`, so the caller closes the connection after it.
 */
export function rawProblemResponse(problem: ProblemError, headers: Readonly<Record<string, string>>): string {
  const body = JSON.stringify(toProblemDocument(problem));

  return (
    `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status] ?? ''}\r\n` +
    `content-type: ${PROBLEM_CONTENT_TYPE}\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('') +
    'connection: close\r\n\r\n' +
    body
  );
}
