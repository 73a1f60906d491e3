import type { FastifyRequest } from 'fastify';

import { auditRequest } from '../audit/request-events.js';
import { OUTAGE_RETRY_AFTER_SECONDS } from '../backends/outage.js';
import { clientAddressKey } from '../core/client-address.js';
import { secretShape } from '../core/credential-shapes.js';
import { REDACTED } from '../core/log-redaction.js';
import { ProblemError } from '../core/problem.js';
import type { ClientAuthThrottle } from '../core/rate-limit/client-auth-throttle.js';
import { ThrottleStoreError } from '../core/rate-limit/failure-counters.js';
import { secondsText } from '../core/duration.js';
import { endpointTemplate } from './endpoint-methods.js';
import { ROUTES } from './provider-routes.js';

/** Policy name of the client authentication throttle in 429 responses and audit events. */
export const CLIENT_AUTH_POLICY = 'client-authentication';

/** Endpoints where oidc-provider authenticates the client of every POST. */
const CLIENT_AUTHENTICATING_ENDPOINTS: ReadonlySet<string> = new Set([
  ROUTES.token,
  ROUTES.introspection,
  ROUTES.revocation,
  ROUTES.pushed_authorization_request,
]);

/** One client authentication attempt under the throttle. */
export interface ClientAuthAttempt {
  /**
   * The client id of `Authorization: Basic`, or undefined when the client id
   * is in the body, which oidc-provider reads itself.
   * NOTE: so `private_key_jwt` and public clients are throttled per address
   * only. Their credentials are a signature or nothing, which leaves no
   * secret to guess, but a bad assertion is not counted against its client.
   */
  clientId: string | undefined;
  /**
   * The client id for log lines and audit events: as sent, but replaced
   * when it has the shape of a client secret, an API key or a JWT.
   */
  shownClientId: string | undefined;
  address: string;
}

/** Returns true for a POST to an endpoint that authenticates the client. */
export function authenticatesClient(request: FastifyRequest): boolean {
  if (request.method !== 'POST') {
    return false;
  }
  const queryStart = request.url.indexOf('?');
  const template = endpointTemplate(queryStart === -1 ? request.url : request.url.slice(0, queryStart));
  return template !== undefined && CLIENT_AUTHENTICATING_ENDPOINTS.has(template);
}

/**
 * Returns the client id to write to logs and the audit trail. A client that
 * swaps its id and secret, or sends a token or an API key as its id, would
 * otherwise have that credential stored, so such an id is replaced.
 */
export function showClientId(clientId: string | undefined): string | undefined {
  return clientId !== undefined && secretShape(clientId) !== undefined ? REDACTED : clientId;
}

/**
 * Starts a client authentication attempt, or rejects it with a 429 before
 * any credential is checked. The response is the same for unknown and
 * registered client ids. Without its counters the throttle cannot stop
 * guessing, so a store failure pauses client authentication with a 503.
 */
export async function beginClientAuth(
  request: FastifyRequest,
  throttle: ClientAuthThrottle,
  clientId: string | undefined,
  ipv6PrefixLength: number,
): Promise<ClientAuthAttempt> {
  const attempt = { clientId, shownClientId: showClientId(clientId), address: clientAddressKey(request.ip, ipv6PrefixLength) };

  let verdict;
  try {
    verdict = await throttle.begin(attempt.clientId, attempt.address);
  } catch (error) {
    // The throttle reports its store failures at a bounded rate.
    if (!(error instanceof ThrottleStoreError)) {
      request.log.error({ err: error }, 'client authentication throttle unavailable');
    }
    throw new ProblemError('service_unavailable', 'Client authentication is temporarily unavailable. Retry shortly.', {
      headers: { 'retry-after': String(OUTAGE_RETRY_AFTER_SECONDS) },
      alreadyLogged: true,
    });
  }

  if (!verdict.allowed) {
    const retryAfter = Math.max(1, Math.ceil(verdict.retryAfterMs / 1000));
    request.log.info({ clientId: attempt.shownClientId, retryAfter }, 'client authentication throttled');
    auditRequest(request, { type: 'rate_limit.exceeded', outcome: 'denied', clientId: attempt.shownClientId, reason: CLIENT_AUTH_POLICY });
    throw new ProblemError(
      'rate_limited',
      `Too many failed client authentications from this address. Retry after ${secondsText(retryAfter)}.`,
      { headers: { 'retry-after': String(retryAfter) } },
    );
  }
  return attempt;
}

/**
 * Records the outcome of an attempt that reached oidc-provider. A 401 from
 * these endpoints is always `invalid_client`, which is counted and recorded
 * in the audit trail with the attempt's `shownClientId`. `secretVerified` is true
 * when the Basic secret matched, which is the client's success.
 */
export async function finishClientAuth(
  request: FastifyRequest,
  throttle: ClientAuthThrottle,
  attempt: ClientAuthAttempt,
  outcome: { secretVerified: boolean; status: number },
): Promise<void> {
  if (!outcome.secretVerified && outcome.status === 401) {
    auditRequest(request, { type: 'authentication.failed', outcome: 'failure', clientId: attempt.shownClientId, reason: 'invalid_client' });
  }

  try {
    if (outcome.secretVerified && attempt.clientId !== undefined) {
      await throttle.succeeded(attempt.clientId, attempt.address);
    } else if (outcome.status === 401) {
      await throttle.failed(attempt.clientId, attempt.address);
    }
  } catch (error) {
    // The response has gone out; a lost count only lets one more guess through.
    request.log.warn({ err: error }, 'recording a client authentication outcome failed');
  }
}
