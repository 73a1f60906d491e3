import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
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
import { describeViolations, type SchemaViolation } from '../core/validation-errors.js';
import { isBackendOutage, outageProblem } from '../backends/outage.js';

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

function jsonErrorDetail(message: string): string {
  // secure-json-parse, Fastify's JSON parser, names the prototype keys it rejects.
  return /prototype|constructor/i.test(message)
    ? 'The request body contains a forbidden key (__proto__ or constructor.prototype).'
    : 'The request body is not valid JSON.';
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

  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ProblemError(
        'unsupported_media_type',
        'The Content-Type of the request body is not accepted here; send application/json.',
      );
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ProblemError('invalid_request', 'The Content-Length header does not match the body.');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ProblemError('payload_too_large', 'The request body is larger than the server accepts.');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ProblemError('invalid_json', 'The request body is empty but its Content-Type is application/json.');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ProblemError('invalid_json', jsonErrorDetail(error.message));
    case 'FST_ERR_BAD_URL':
      return new ProblemError('invalid_request', 'The request URL is malformed.');
    case 'FST_ERR_ASYNC_CONSTRAINT':
      return new ProblemError('invalid_request', 'The request could not be routed.');
    default:
      break;
  }

  if (error instanceof SyntaxError && error.statusCode === 400) {
    return new ProblemError('invalid_json', jsonErrorDetail(error.message));
  }

  if (error.statusCode === 413) {
    return new ProblemError('payload_too_large', 'The request body is larger than the server accepts.');
  }

  if (error.statusCode === 415) {
    return new ProblemError('unsupported_media_type', 'The Content-Type of the request body is not accepted here.');
  }

  if (isBackendOutage(error)) {
    return outageProblem(error);
  }

  return undefined;
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

/** Logs a caller that left mid-request, and sends a problem only while its connection is still open. */
function handleCallerDisconnect(request: FastifyRequest, reply: FastifyReply, error: Error): FastifyReply | undefined {
  request.log.info({ code: (error as { code?: unknown }).code }, 'caller closed the connection before the request was complete, so the request was dropped');
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

function logFailure(request: FastifyRequest, error: Error, problem: ProblemError | undefined): void {
  if (problem === undefined) {
    request.log.error({ err: error }, 'request failed');
  } else if (problem.status >= 500) {
    request.log.error({ err: error, code: problem.code }, 'request failed');
  } else {
    // Debug, because the request's own line already shows the status.
    request.log.debug({ code: problem.code, status: problem.status }, problem.detail);
  }
}

/**
 * Answers every error and unknown route of `app` with a problem document.
 *
 * Unexpected errors become a 500 whose body carries only the request id; the
 * error itself, with its stack, goes to the log. A caller that left before
 * its request was complete gets no response and an info line.
 */
export function installProblemHandlers(app: FastifyInstance): void {
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

  app.setNotFoundHandler((request, reply) => sendProblem(reply, routeNotFound(request.method, request.url.split('?')[0] ?? '')));
}

const CLIENT_ERROR_BODIES: Record<string, { status: number; code: 'headers_too_large' | 'uri_too_long' | 'invalid_request'; detail: string }> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    code: 'headers_too_large',
    detail: 'The request headers are larger than the server accepts.',
  },
};

/** Headers of a response to a request that fails before routing, unless the caller passes its own. */
const DEFAULT_CLIENT_ERROR_HEADERS: Readonly<Record<string, string>> = { 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' };

/**
 * Writes a problem response for requests that fail before routing, such as
 * oversized headers or malformed HTTP, with `headers` (the listener's
 * security headers), then closes the connection.
 */
export function handleClientError(error: Error & { code?: string }, socket: Socket, headers: Readonly<Record<string, string>> = DEFAULT_CLIENT_ERROR_HEADERS): void {
  // ECONNRESET means the caller reset the connection, so nothing can reach it.
  if (error.code === 'ECONNRESET' || socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }

  const known = error.code === undefined ? undefined : CLIENT_ERROR_BODIES[error.code];
  const status = known?.status ?? 400;
  const problem = new ProblemError(known?.code ?? 'invalid_request', known?.detail ?? 'The request is not valid HTTP.');
  const body = JSON.stringify(toProblemDocument(problem));
  const reason = status === 431 ? 'Request Header Fields Too Large' : 'Bad Request';

  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\n` +
      `content-type: ${PROBLEM_CONTENT_TYPE}\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\n` +
      Object.entries(headers)
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join('') +
      'connection: close\r\n\r\n' +
      body,
  );
}
