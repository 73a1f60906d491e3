import type { FastifyReply, FastifyRequest } from 'fastify';

import { isBackendOutage, outageProblem } from '../backends/outage.js';
import { ProblemError } from '../core/problem.js';

/** Characters that RFC 6749 section 5.2 allows in `error_description`. */
const DESCRIPTION_CHARACTERS = /^[\x20\x21\x23-\x5B\x5D-\x7E]+$/;

/**
 * Sends a server failure of a step that Portcullis runs before oidc-provider
 * on an endpoint where OAuth clients authenticate, such as a store outage
 * while it applies a rate limit, counts client authentications or checks a
 * client secret. The body is the RFC 6749 error `server_error` that
 * oidc-provider sends for its own failures, because OAuth client libraries
 * parse that format. An outage gets 503 with Retry-After, any other
 * failure 500.
 *
 * Returns false, and sends nothing, for a client error such as a 429, which
 * the caller rethrows as a problem document.
 */
export function sendOAuthServerError(request: FastifyRequest, reply: FastifyReply, error: unknown): boolean {
  let problem: ProblemError | undefined;
  if (error instanceof ProblemError) {
    problem = error;
  } else if (isBackendOutage(error)) {
    problem = outageProblem(error);
  }
  if (problem !== undefined && problem.status < 500) {
    return false;
  }

  // A rate-limit store outage is logged by the limiter at a bounded rate.
  if (problem?.alreadyLogged !== true) {
    request.log.error({ err: error }, 'request failed');
  }
  const detail = problem?.detail ?? '';
  void reply
    .code(problem?.status ?? 500)
    .headers(problem?.headers ?? {})
    .header('cache-control', 'no-store')
    .header('pragma', 'no-cache')
    .type('application/json; charset=utf-8')
    .send({
      error: 'server_error',
      error_description: DESCRIPTION_CHARACTERS.test(detail) ? detail : 'The server failed.',
    });
  return true;
}
