import type { FastifyRequest } from 'fastify';

import { InvalidAccessTokenError, type AccessTokenVerifier } from '../core/access-token-verifier.js';
import { bearerChallenge, extractBearerToken } from '../core/bearer.js';
import type { Identity } from '../core/identity-headers.js';
import { ProblemError } from '../core/problem.js';

export const REALM = 'portcullis';

export interface AuthenticationDependencies {
  verifier: AccessTokenVerifier;
  /** Tells whether the grant behind a token still exists (not revoked, not expired). */
  isGrantActive: (grantId: string) => Promise<boolean>;
}

/** Query parameters that carry credentials and must be sent in a header instead. */
const CREDENTIAL_QUERY_PARAMETERS = ['access_token', 'api_key', 'apikey'];

function unauthorized(detail: string, error?: 'invalid_token' | 'invalid_request'): ProblemError {
  const challenge =
    error === undefined ? bearerChallenge({ realm: REALM }) : bearerChallenge({ realm: REALM, error, description: detail });
  return new ProblemError('unauthorized', detail, { headers: { 'www-authenticate': challenge } });
}

function rejectCredentialsInQuery(request: FastifyRequest): void {
  const query = request.query as Record<string, unknown> | undefined;
  const found = CREDENTIAL_QUERY_PARAMETERS.find((name) => query?.[name] !== undefined);
  if (found !== undefined) {
    const detail = `Credentials are not accepted in the query string ('${found}'); send the token in the Authorization header.`;
    throw new ProblemError('invalid_request', detail, {
      headers: { 'www-authenticate': bearerChallenge({ realm: REALM, error: 'invalid_request', description: detail }) },
    });
  }
}

/**
 * Establishes the caller from the bearer access token, or throws a 401
 * problem with an RFC 6750 challenge. The token itself never reaches a log.
 */
export async function authenticate(request: FastifyRequest, deps: AuthenticationDependencies): Promise<Identity> {
  rejectCredentialsInQuery(request);

  const extraction = extractBearerToken(request.headers.authorization);
  if (extraction.kind === 'missing') {
    throw unauthorized('An access token is required; send it as "Authorization: Bearer <token>".');
  }
  if (extraction.kind === 'malformed') {
    throw unauthorized(`The access token is invalid: ${extraction.reason}.`, 'invalid_request');
  }

  let claims;
  try {
    claims = await deps.verifier.verify(extraction.token);
  } catch (error) {
    if (error instanceof InvalidAccessTokenError) {
      request.log.info({ reason: error.reason }, 'access token rejected');
      throw unauthorized(`The access token is invalid: ${error.reason}.`, 'invalid_token');
    }
    throw error;
  }

  if (!(await deps.isGrantActive(claims.grantId))) {
    request.log.info({ clientId: claims.clientId, subject: claims.subject }, 'access token of a revoked grant');
    throw unauthorized('The access token is invalid: it was revoked.', 'invalid_token');
  }

  return {
    subject: claims.subject,
    scopes: claims.scopes,
    roles: claims.roles,
    clientId: claims.clientId,
    credential: 'jwt',
  };
}
