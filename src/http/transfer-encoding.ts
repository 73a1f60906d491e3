import type { IncomingMessage } from 'node:http';

import { ProblemError } from '../core/problem.js';

/** Maximum length, in characters, of the caller's Transfer-Encoding value that a problem detail repeats. */
const MAX_SHOWN_VALUE_LENGTH = 100;

/**
 * Returns the 400 problem of a request whose body framing a proxy in front
 * of the server may read otherwise, or undefined when the request has no
 * Transfer-Encoding or only `chunked`. Node.js 20 accepts both cases below
 * and keeps the connection open, so the connection must be closed after the
 * problem response:
 *
 * - Transfer-Encoding in an HTTP/1.0 request is faulty framing (RFC 9112
 *   section 6.1), because an HTTP/1.0 proxy that passed it on did not
 *   understand it and may have read the body to another end;
 * - codings before `chunked`, such as `gzip, chunked`, which Node.js reads
 *   as if `chunked` were the only one, so the body would not be decoded.
 */
export function transferEncodingProblem(request: IncomingMessage): ProblemError | undefined {
  const value = request.headers['transfer-encoding'];
  if (value === undefined) {
    return undefined;
  }

  if (request.httpVersionMajor === 1 && request.httpVersionMinor === 0) {
    return new ProblemError(
      'invalid_request',
      'The HTTP/1.0 request has a Transfer-Encoding header, which HTTP/1.0 does not define. Send the body with Content-Length, or send the request as HTTP/1.1.',
    );
  }

  if (value.trim().toLowerCase() !== 'chunked') {
    return new ProblemError(
      'invalid_request',
      `The Transfer-Encoding '${value.slice(0, MAX_SHOWN_VALUE_LENGTH)}' is not supported. Send the body with Transfer-Encoding: chunked alone, or with Content-Length.`,
    );
  }

  return undefined;
}
