import type { FastifyRequest } from 'fastify';

import { ProblemError } from '../core/problem.js';

/**
 * Rejects an OPTIONS request with an Origin but no
 * Access-Control-Request-Method, which is no valid preflight. Without this
 * check `@fastify/cors` sends a plain-text 400 for it.
 */
export function rejectIncompletePreflight(request: FastifyRequest): void {
  if (request.method === 'OPTIONS' && request.headers.origin !== undefined && request.headers['access-control-request-method'] === undefined) {
    throw new ProblemError('invalid_request', 'The CORS preflight request is invalid: the Access-Control-Request-Method header is missing.');
  }
}
