import type { IncomingHttpHeaders } from 'node:http';

import { extractBearerToken } from '../core/bearer.js';

/** The parts of a request that carry credentials; a Fastify request is one. */
export interface CredentialSource {
  headers: IncomingHttpHeaders;
  raw: { rawHeaders: readonly string[] };
}

export type PresentedCredential =
  | { kind: 'missing' }
  | { kind: 'malformed'; reason: string }
  | { kind: 'unsupported'; scheme: string | undefined }
  | { kind: 'bearer'; value: string }
  | { kind: 'api_key'; value: string };

/** Longest accepted credential, in characters. */
const MAX_CREDENTIAL_LENGTH = 8192;

const API_KEY_SCHEME = /^ApiKey (\S+)$/i;

function headerCount(request: CredentialSource, name: string): number {
  const raw = request.raw.rawHeaders;
  let count = 0;
  for (let index = 0; index < raw.length; index += 2) {
    const rawName = raw[index];
    // The length test spares the lower-casing of every other header name.
    if (rawName?.length === name.length && rawName.toLowerCase() === name) {
      count += 1;
    }
  }
  return count;
}

function readApiKeyHeader(value: string): PresentedCredential {
  if (value.length > MAX_CREDENTIAL_LENGTH) {
    return { kind: 'malformed', reason: `the API key is too long: more than ${MAX_CREDENTIAL_LENGTH} characters` };
  }
  if (!/^[\x21-\x7e]+$/.test(value)) {
    return { kind: 'malformed', reason: 'the API key contains whitespace or characters outside printable ASCII' };
  }
  return { kind: 'api_key', value };
}

function readAuthorization(value: string): PresentedCredential {
  if (/^Bearer(\s|$)/i.test(value)) {
    const bearer = extractBearerToken(value);
    if (bearer.kind === 'token') {
      return { kind: 'bearer', value: bearer.token };
    }
    return { kind: 'malformed', reason: bearer.kind === 'malformed' ? bearer.reason : 'the bearer token is missing' };
  }

  if (/^ApiKey(\s|$)/i.test(value)) {
    const match = API_KEY_SCHEME.exec(value);
    return match?.[1] === undefined
      ? { kind: 'malformed', reason: 'the Authorization header is not in the form "ApiKey <key>"' }
      : readApiKeyHeader(match[1]);
  }

  return { kind: 'unsupported', scheme: schemeOf(value) };
}

/**
 * Authentication schemes defined in RFCs other than Bearer, by their lower
 * case (RFC 7236 registered the first ones: Basic, Digest, Negotiate and
 * OAuth). Only these are named back to the caller, because a header that
 * carries a credential with no scheme must not be repeated.
 */
const REGISTERED_SCHEMES = new Map(
  ['Basic', 'Concealed', 'Digest', 'DPoP', 'GNAP', 'HOBA', 'Mutual', 'Negotiate', 'OAuth', 'PrivateToken', 'SCRAM-SHA-1', 'SCRAM-SHA-256', 'vapid'].map(
    (scheme) => [scheme.toLowerCase(), scheme],
  ),
);

/** Returns the registered scheme that an Authorization value names, or undefined for any other first word. */
function schemeOf(value: string): string | undefined {
  const first = value.split(/\s/, 1)[0] ?? '';
  return REGISTERED_SCHEMES.get(first.toLowerCase());
}

/**
 * Reads the one credential of a request: a bearer token or an API key in
 * `Authorization`, or an API key in `X-API-Key`. Repeated headers, or two
 * credentials that disagree, are malformed rather than resolved by a guess.
 */
export function extractCredential(request: CredentialSource): PresentedCredential {
  if (headerCount(request, 'authorization') > 1) {
    return { kind: 'malformed', reason: 'send exactly one Authorization header' };
  }
  if (headerCount(request, 'x-api-key') > 1) {
    return { kind: 'malformed', reason: 'send exactly one X-API-Key header' };
  }

  const authorization = request.headers.authorization;
  const apiKeyHeader = request.headers['x-api-key'];
  const fromAuthorization = authorization === undefined || authorization === '' ? undefined : readAuthorization(authorization);
  const fromApiKeyHeader = typeof apiKeyHeader !== 'string' || apiKeyHeader === '' ? undefined : readApiKeyHeader(apiKeyHeader);

  if (fromAuthorization === undefined) {
    return fromApiKeyHeader ?? { kind: 'missing' };
  }
  if (fromApiKeyHeader === undefined || fromAuthorization.kind === 'malformed' || fromAuthorization.kind === 'unsupported') {
    return fromAuthorization;
  }
  if (fromApiKeyHeader.kind === 'malformed') {
    return fromApiKeyHeader;
  }

  if (fromAuthorization.kind === 'api_key' && fromApiKeyHeader.kind === 'api_key' && fromAuthorization.value === fromApiKeyHeader.value) {
    return fromAuthorization;
  }
  return { kind: 'malformed', reason: 'send one credential, not an Authorization header and a different X-API-Key' };
}
