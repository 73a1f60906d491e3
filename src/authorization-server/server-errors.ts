import type { FastifyReply, FastifyRequest } from 'fastify';

import { isBackendOutage, OUTAGE_RETRY_AFTER_SECONDS } from '../backends/outage.js';
import { ProblemError } from '../core/problem.js';

/**
 * Sends a server failure of a step that Portcullis runs before oidc-provider
 * on an OAuth endpoint, such as a store outage while it counts client
 * authentications or checks a client secret. The body is the RFC 6749
 * error `server_error` that oidc-provider sends for its own failures,
 * because the callers of these endpoints are OAuth clients. A backend outage
 * gets 503 with Retry-After, any other failure 500.
 *
 * Returns false, and sends nothing, for a client error such as the
 * throttle's 429, which the caller rethrows as a problem document.
 */
export function sendOAuthServerError(request: FastifyRequest, reply: FastifyReply, error: unknown): boolean {
  if (error instanceof ProblemError && error.status < 500) {
    return false;
  }
  const outage = isBackendOutage(error) || (error instanceof ProblemError && error.code === 'service_unavailable');

  request.log.error({ err: error }, 'request failed');
  if (outage) {
    reply.code(503).header('retry-after', String(OUTAGE_RETRY_AFTER_SECONDS));
  } else {
    reply.code(500);
  }
  void reply
    .header('cache-control', 'no-store')
    .header('pragma', 'no-cache')
    .type('application/json; charset=utf-8')
    .send({
      error: 'server_error',
      error_description: outage ? 'A storage backend of the server is unavailable. Retry shortly.' : 'The server failed.',
    });
  return true;
}
