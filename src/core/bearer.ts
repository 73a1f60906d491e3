/**
 * Bearer token extraction and challenges (RFC 6750).
 */

// RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const BEARER_CREDENTIALS = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i;

/** Longest accepted token, in characters; access tokens from Portcullis are well under 2 KiB. */
export const MAX_TOKEN_LENGTH = 8192;

export type BearerExtraction =
  | { kind: 'token'; token: string }
  | { kind: 'missing' }
  | { kind: 'malformed'; reason: string };

/** Reads the access token from an Authorization header value. */
export function extractBearerToken(authorization: string | undefined): BearerExtraction {
  if (authorization === undefined || authorization === '') {
    return { kind: 'missing' };
  }

  if (!/^Bearer\s/i.test(authorization)) {
    return { kind: 'missing' };
  }

  const match = BEARER_CREDENTIALS.exec(authorization);
  if (match?.[1] === undefined) {
    return { kind: 'malformed', reason: 'the Authorization header is not in the form "Bearer <token>"' };
  }

  if (match[1].length > MAX_TOKEN_LENGTH) {
    return { kind: 'malformed', reason: 'the access token is too long' };
  }

  return { kind: 'token', token: match[1] };
}

export type BearerError = 'invalid_request' | 'invalid_token' | 'insufficient_scope';

export interface ChallengeOptions {
  realm: string;
  error?: BearerError;
  description?: string;
  /** Scopes needed, for insufficient_scope. */
  scope?: readonly string[];
}

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, '')}"`;
}

/** Builds a WWW-Authenticate challenge (RFC 6750 section 3). */
export function bearerChallenge(options: ChallengeOptions): string {
  const parameters = [`realm=${quote(options.realm)}`];

  if (options.error !== undefined) {
    parameters.push(`error=${quote(options.error)}`);
  }
  if (options.description !== undefined) {
    parameters.push(`error_description=${quote(options.description)}`);
  }
  if (options.scope !== undefined && options.scope.length > 0) {
    parameters.push(`scope=${quote(options.scope.join(' '))}`);
  }

  return `Bearer ${parameters.join(', ')}`;
}
