import type { FastifyBaseLogger, FastifyRequest } from 'fastify';

import type { AuditEvent } from '../audit/events.js';
import { auditRequest } from '../audit/request-events.js';
import type { ApiKeyService } from '../api-keys/api-key-service.js';
import { InvalidAccessTokenError, type AccessTokenClaims } from '../core/access-token-verifier.js';
import type { TokenVerifier } from '../core/cache/token-cache.js';
import { bearerChallenge } from '../core/bearer.js';
import { containsApiKey, containsCredential, looksLikeApiKey } from '../core/credential-shapes.js';
import type { CredentialKind, Identity } from '../core/identity-headers.js';
import { andThen, isPromise, type Pending } from '../core/pending.js';
import { ProblemError } from '../core/problem.js';
import { extractCredential, type CredentialSource, type PresentedCredential } from './credentials.js';

export const REALM = 'portcullis';

/** The checkers of each credential kind. A kind without its checker is not accepted. */
export interface AuthenticationDependencies {
  verifier?: TokenVerifier;
  /** Tells whether the grant behind a token still exists (not revoked, not expired). */
  isGrantActive: (grantId: string) => Pending<boolean>;
  /** Tells whether an OAuth client still exists, for client credentials tokens. */
  isClientActive: (clientId: string) => Pending<boolean>;
  apiKeys?: Pick<ApiKeyService, 'verify'>;
}

/** The parts of a request that authentication reads; a Fastify request is one. */
export interface AuthenticationRequest extends CredentialSource {
  /** Parsed query string. */
  query: unknown;
  /** Client address. */
  ip: string;
  log: Pick<FastifyBaseLogger, 'info' | 'warn'>;
}

/**
 * Records a security event when the request is a Fastify request, whose app
 * may have an audit trail. Requests of the Express adapter have none.
 */
function recordAudit(request: AuthenticationRequest, event: AuditEvent): void {
  if ('server' in request) {
    auditRequest(request as FastifyRequest, event);
  }
}

/** Query parameters that carry credentials and must be sent in a header instead. */
const CREDENTIAL_QUERY_PARAMETERS = new Set(['access_token', 'api_key', 'apikey', 'api-key', 'key', 'token']);

function challenges(accepted: readonly CredentialKind[], error?: 'invalid_token' | 'invalid_request', description?: string): string {
  const list: string[] = [];
  if (accepted.includes('jwt')) {
    list.push(error === undefined ? bearerChallenge({ realm: REALM }) : bearerChallenge({ realm: REALM, error, description }));
  }
  if (accepted.includes('api_key')) {
    list.push(`ApiKey realm="${REALM}"`);
  }
  return list.join(', ');
}

function unauthorized(detail: string, accepted: readonly CredentialKind[], error?: 'invalid_token'): ProblemError {
  return new ProblemError('unauthorized', detail, { headers: { 'www-authenticate': challenges(accepted, error, detail) } });
}

/**
 * Rejects a request whose credentials cannot be read: 400 with the
 * challenges and `invalid_request`, as RFC 6750 section 3.1 recommends,
 * because the same request sent again cannot succeed.
 */
function malformedCredentials(detail: string, accepted: readonly CredentialKind[]): ProblemError {
  return new ProblemError('invalid_request', detail, { headers: { 'www-authenticate': challenges(accepted, 'invalid_request', detail) } });
}

const CREDENTIAL_HEADERS_HINT = 'send an access token in the Authorization header or an API key in the X-API-Key header';

/** The challenge description of a credential in the query string, which never repeats a parameter name, since header values cannot carry every character. */
const QUERY_CREDENTIAL_CHALLENGE = 'Credentials are not accepted in the query string';

/**
 * Rejects credentials sent in the query string, where proxies and logs
 * keep them: a parameter with a credential's name, any value that looks
 * like an API key or contains one after other text, and a parameter name that
 * looks like or contains an API key or an access token, as in `?<key>`. The
 * message never repeats such a name. The 400 carries the challenges of the
 * `accepted` kinds with `invalid_request` (RFC 6750 section 3.1), and none
 * on a public operation.
 */
export function rejectCredentialsInQuery(request: Pick<AuthenticationRequest, 'query'>, accepted: readonly CredentialKind[] = []): void {
  const query = request.query as Record<string, unknown> | undefined;
  for (const [name, value] of Object.entries(query ?? {})) {
    if (containsCredential(name)) {
      throw queryCredential(`A query parameter name has the form of a credential, which is not accepted in the query string; ${CREDENTIAL_HEADERS_HINT}.`, accepted);
    }

    const values = Array.isArray(value) ? value : [value];
    const looksLikeKey = values.some((item) => typeof item === 'string' && containsApiKey(item));
    if (CREDENTIAL_QUERY_PARAMETERS.has(name.toLowerCase()) || looksLikeKey) {
      throw queryCredential(`Credentials are not accepted in the query string ('${name}'); ${CREDENTIAL_HEADERS_HINT}.`, accepted);
    }
  }
}

function queryCredential(detail: string, accepted: readonly CredentialKind[]): ProblemError {
  const challenge = challenges(accepted, 'invalid_request', QUERY_CREDENTIAL_CHALLENGE);
  return new ProblemError('invalid_request', detail, challenge === '' ? {} : { headers: { 'www-authenticate': challenge } });
}

/** Turns a failed verification into the 401 for the caller. Any other error passes unchanged. */
function tokenRejected(request: AuthenticationRequest, error: unknown, accepted: readonly CredentialKind[]): unknown {
  if (error instanceof InvalidAccessTokenError) {
    request.log.info({ reason: error.reason }, 'access token rejected');
    return unauthorized(`The access token is invalid: ${error.reason}.`, accepted, 'invalid_token');
  }
  return error;
}

/**
 * Verifies an access token and checks that its grant, or for client
 * credentials its client, is still active. When both results are cached,
 * it returns the identity without a promise.
 */
function authenticateToken(
  request: AuthenticationRequest,
  token: string,
  verifier: TokenVerifier,
  deps: AuthenticationDependencies,
  accepted: readonly CredentialKind[],
): Pending<Identity> {
  let claims: Pending<AccessTokenClaims>;
  try {
    claims = verifier.verify(token);
  } catch (error) {
    throw tokenRejected(request, error, accepted);
  }

  if (isPromise(claims)) {
    return claims.then(
      (verified) => checkActive(request, verified, deps, accepted),
      (error: unknown) => {
        throw tokenRejected(request, error, accepted);
      },
    );
  }
  return checkActive(request, claims, deps, accepted);
}

function checkActive(request: AuthenticationRequest, claims: AccessTokenClaims, deps: AuthenticationDependencies, accepted: readonly CredentialKind[]): Pending<Identity> {
  // The verifier accepts a token without a grant only from client
  // credentials, where the client is its own subject.
  let active: Pending<boolean> = false;
  if (claims.grantId !== undefined) {
    active = deps.isGrantActive(claims.grantId);
  } else if (claims.subject === claims.clientId) {
    active = deps.isClientActive(claims.clientId);
  }

  return andThen(active, (isActive) => identityOf(request, claims, isActive, accepted));
}

function identityOf(request: AuthenticationRequest, claims: AccessTokenClaims, active: boolean, accepted: readonly CredentialKind[]): Identity {
  // Only a plain true lets the token through: a check that returned
  // anything else, by a bug in it or in its caller, fails closed.
  if (active !== true) {
    request.log.info({ clientId: claims.clientId, subject: claims.subject }, 'access token of a revoked grant or client');
    const problem = unauthorized('The access token is invalid: it was revoked.', accepted, 'invalid_token');
    // The signature proved who the token was issued to, so the event names them.
    recordAudit(request, {
      type: 'authentication.failed',
      outcome: 'failure',
      actor: claims.subject,
      clientId: claims.clientId,
      reason: 'invalid_access_token',
      detail: problem.detail,
    });
    throw problem;
  }

  return {
    subject: claims.subject,
    scopes: claims.scopes,
    roles: claims.roles,
    clientId: claims.clientId,
    credential: 'jwt',
    claims: claims.payload,
  };
}

async function authenticateApiKey(
  request: AuthenticationRequest,
  key: string,
  apiKeys: Pick<ApiKeyService, 'verify'>,
  accepted: readonly CredentialKind[],
): Promise<Identity> {
  const result = await apiKeys.verify(key, request.ip);

  switch (result.outcome) {
    case 'malformed':
      request.log.info({ reason: result.reason }, 'API key rejected');
      throw unauthorized(`The API key is invalid: ${result.reason}.`, accepted);
    case 'invalid': {
      const problem = unauthorized('The API key is invalid, revoked or expired.', accepted);
      if (result.ended === undefined) {
        request.log.info('API key rejected: unknown, revoked or expired');
        throw problem;
      }
      // The presented key matched the stored hash, so its id and owner are
      // proven, and the trail can show who still uses a key that ended.
      request.log.info({ keyId: result.ended.id }, 'API key rejected: revoked or expired, or its owner is disabled or removed');
      recordAudit(request, {
        type: 'authentication.failed',
        outcome: 'failure',
        actor: result.ended.ownerId,
        keyId: result.ended.id,
        reason: 'rejected_api_key',
        detail: problem.detail,
      });
      throw problem;
    }
    case 'no_usable_scope': {
      // Every scope of the key needs a role that its owner has lost since.
      const problem = unauthorized('The API key has no scope left that its owner may use.', accepted);
      request.log.info({ keyId: result.record.id }, 'API key rejected: its owner lost the roles its scopes need');
      recordAudit(request, {
        type: 'authentication.failed',
        outcome: 'failure',
        actor: result.record.ownerId,
        keyId: result.record.id,
        reason: 'rejected_api_key',
        detail: problem.detail,
      });
      throw problem;
    }
    case 'address_not_allowed':
      request.log.warn({ keyId: result.record.id, address: request.ip }, 'API key used from a disallowed address');
      recordAudit(request, { type: 'api_key.address_rejected', outcome: 'denied', actor: result.record.ownerId, keyId: result.record.id });
      throw new ProblemError('forbidden', 'This API key may not be used from this address.');
    case 'valid':
      return {
        subject: result.owner.id,
        scopes: result.record.scopes,
        roles: result.owner.roles,
        clientId: '',
        credential: 'api_key',
        keyId: result.record.id,
      };
  }
}

const CREDENTIAL_HINTS: Record<CredentialKind, string> = {
  jwt: 'an access token ("Authorization: Bearer <token>")',
  api_key: 'an API key ("X-API-Key: <key>")',
};

/** Names the credential kinds a caller may send here, so the hint never offers one that would be refused. */
function acceptedCredentials(accepted: readonly CredentialKind[], deps: AuthenticationDependencies): string {
  const usable = accepted.filter((kind) => (kind === 'api_key' ? deps.apiKeys !== undefined : deps.verifier !== undefined));
  return usable.map((kind) => CREDENTIAL_HINTS[kind]).join(' or ');
}

function describe(credential: PresentedCredential): string {
  return credential.kind === 'api_key' ? 'API keys are' : 'access tokens are';
}

/**
 * Establishes the caller from one credential of an accepted kind, or throws
 * (or rejects with) a problem with challenges for the accepted kinds: 401
 * for a missing, unsupported or invalid credential, 400 for credentials
 * that cannot be read. A token whose checks are all cached is established
 * at once. No credential ever reaches a log or a response.
 */
export function authenticate(
  request: AuthenticationRequest,
  deps: AuthenticationDependencies,
  accepted: readonly CredentialKind[],
): Pending<Identity> {
  rejectCredentialsInQuery(request, accepted);

  const presented = extractCredential(request);
  switch (presented.kind) {
    case 'missing':
      throw unauthorized(`A credential is required: ${acceptedCredentials(accepted, deps)}.`, accepted);
    case 'malformed':
      throw malformedCredentials(`The credentials are invalid: ${presented.reason}.`, accepted);
    case 'unsupported':
      // RFC 6750 section 3.1: a challenge without an error code for an
      // authentication scheme that the server does not support.
      throw unauthorized(
        presented.scheme === undefined
          ? `The Authorization header does not start with a supported scheme; send ${acceptedCredentials(accepted, deps)}.`
          : `The Authorization scheme '${presented.scheme}' is not supported; send ${acceptedCredentials(accepted, deps)}.`,
        accepted,
      );
    default:
      break;
  }

  // An error captures a stack trace when it is made, which costs more than
  // the rest of a cached authentication, so it is made only when thrown.
  const notAccepted = () => unauthorized(`${describe(presented)} not accepted for this operation.`, accepted);
  const kind: CredentialKind = presented.kind === 'api_key' ? 'api_key' : 'jwt';
  if (!accepted.includes(kind)) {
    throw notAccepted();
  }

  if (presented.kind === 'api_key') {
    if (deps.apiKeys === undefined) {
      throw notAccepted();
    }
    return authenticateApiKey(request, presented.value, deps.apiKeys, accepted);
  }

  if (deps.verifier === undefined) {
    throw notAccepted();
  }
  // An API key sent as "Bearer <key>" would fail as a malformed JWT, which
  // does not tell the caller which header the key belongs in.
  if (looksLikeApiKey(presented.value)) {
    request.log.info('access token rejected: an API key sent as a bearer token');
    throw unauthorized(apiKeyAsBearerDetail(accepted, deps), accepted, 'invalid_token');
  }
  return authenticateToken(request, presented.value, deps.verifier, deps, accepted);
}

function apiKeyAsBearerDetail(accepted: readonly CredentialKind[], deps: AuthenticationDependencies): string {
  const start = 'The access token is invalid: it has the form of an API key';
  if (accepted.includes('api_key') && deps.apiKeys !== undefined) {
    return `${start}; send API keys as "X-API-Key: <key>" or "Authorization: ApiKey <key>".`;
  }
  return `${start}, and this operation accepts only ${acceptedCredentials(accepted, deps)}.`;
}
