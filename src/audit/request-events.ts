import type { FastifyRequest } from 'fastify';

import type { ProblemError } from '../core/problem.js';
import { extractCredential } from '../gateway/credentials.js';
import type { AuditTrail } from './audit-trail.js';
import type { AuditEvent } from './events.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The audit trail, when the app records security events. */
    audit?: AuditTrail;
  }
}

/** Requests that already produced a security event, so the problem response does not record a second one. */
const audited = new WeakSet<FastifyRequest>();

/**
 * Records a security event of `request`, filling in the request id, the
 * client address and, once authenticated, the caller's subject, client and
 * key id. Does nothing on an app without an audit trail.
 */
export function auditRequest(request: FastifyRequest, event: AuditEvent): void {
  const trail = request.server.audit;
  if (trail === undefined) {
    return;
  }

  audited.add(request);
  const identity = request.identity;
  trail.record({
    actor: identity?.subject,
    clientId: identity?.clientId,
    keyId: identity?.keyId,
    ...event,
    requestId: request.id,
    sourceAddress: request.ip,
  });
}

/**
 * Returns whether a problem rejects the request's credentials: a 401, or a
 * 400 with a challenge. The `ApiKey` challenge of an operation that takes
 * only API keys carries no RFC 6750 error code, so the challenge's presence
 * decides, not its `invalid_request`.
 */
function isAuthenticationFailure(problem: ProblemError): boolean {
  return problem.code === 'unauthorized' || (problem.status === 400 && problem.headers['www-authenticate'] !== undefined);
}

/**
 * Buckets of failed authentications, from the credential the caller sent
 * and the RFC 6750 error in the challenge. The metrics use them as a
 * label, so the set must stay small.
 */
function authenticationFailureReason(request: FastifyRequest, problem: ProblemError): string {
  const challenge = problem.headers['www-authenticate'] ?? '';
  if (problem.status === 400) {
    return 'malformed_credentials';
  }
  if (challenge.includes('error="invalid_token"')) {
    return 'invalid_access_token';
  }
  // The credential is read the way authentication reads it, so a key in
  // `Authorization: ApiKey` counts as a key and an empty header as none.
  switch (extractCredential(request).kind) {
    case 'missing':
      return 'missing_credentials';
    case 'malformed':
      return 'malformed_credentials';
    case 'unsupported':
      return 'unsupported_scheme';
    case 'api_key':
      return 'rejected_api_key';
    case 'bearer':
      return 'rejected_access_token';
  }
}

const REJECTED_REQUEST_CODES = new Set<string>([
  'invalid_request',
  'invalid_json',
  'validation_failed',
  'payload_too_large',
  'uri_too_long',
  'unsupported_media_type',
]);

/** Builds the security event of a problem response, or undefined for problems that are not one (such as 404). */
function eventOfProblem(request: FastifyRequest, problem: ProblemError): AuditEvent | undefined {
  const detail = problem.detail;

  if (isAuthenticationFailure(problem)) {
    return { type: 'authentication.failed', outcome: 'failure', reason: authenticationFailureReason(request, problem), detail };
  }
  if (problem.code === 'insufficient_scope' || problem.code === 'forbidden') {
    return { type: 'authorization.denied', outcome: 'denied', reason: problem.code, detail };
  }
  if (REJECTED_REQUEST_CODES.has(problem.code)) {
    return { type: 'request.rejected', outcome: 'denied', reason: problem.code, detail };
  }
  return undefined;
}

/**
 * Records the security event behind a problem response (a failed
 * authentication, a denied authorization, a rejected request), unless the
 * step that failed recorded a more specific one already.
 */
export function auditProblem(request: FastifyRequest, problem: ProblemError): void {
  if (audited.has(request)) {
    return;
  }

  const event = eventOfProblem(request, problem);
  if (event !== undefined) {
    auditRequest(request, event);
  }
}
