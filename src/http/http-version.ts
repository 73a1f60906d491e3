import type { IncomingMessage } from 'node:http';

import { ProblemError } from '../core/problem.js';

/**
 * Returns the 400 problem of a request whose request line names an HTTP
 * version other than 1.1 or 1.0, or undefined. Node.js 20 serves
 * `HTTP/2.0` and `HTTP/0.9` in HTTP/1.1 syntax, although neither version
 * is written that way, while it rejects `HTTP/1.2` or `HTTP/3.0` as
 * malformed. The framing rules of such a request are unknown, so the
 * connection must be closed after the problem response.
 */
export function httpVersionProblem(request: IncomingMessage): ProblemError | undefined {
  if (request.httpVersionMajor === 1 && (request.httpVersionMinor === 1 || request.httpVersionMinor === 0)) {
    return undefined;
  }
  return new ProblemError(
    'invalid_request',
    `The request line names HTTP/${request.httpVersion}, but this server accepts HTTP/1.1 and HTTP/1.0 only.`,
  );
}
