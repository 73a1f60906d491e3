/**
 * Identity headers: how the gateway tells an upstream who made a request.
 *
 * The gateway deletes every header with the `x-portcullis-` prefix from the
 * incoming request before it adds its own, so an upstream that is reachable
 * only through the gateway can trust them. An upstream that others can reach
 * verifies the signed `x-portcullis-identity` header instead.
 */

export const IDENTITY_HEADER_PREFIX = 'x-portcullis-';

export const IDENTITY_HEADERS = {
  /** The `sub` claim of the access token. */
  subject: 'x-portcullis-subject',
  /** Space-separated granted scopes (RFC 6749 section 3.3 syntax). */
  scope: 'x-portcullis-scope',
  /** Space-separated roles of the account. */
  roles: 'x-portcullis-roles',
  /** The OAuth client that obtained the token. */
  clientId: 'x-portcullis-client-id',
  /** The kind of credential the caller presented: `jwt` or `api_key`. */
  credential: 'x-portcullis-credential',
  /** The public id of the API key, when the caller used one (never the key). */
  keyId: 'x-portcullis-key-id',
  /** The gateway's request id, also sent to the client as `x-request-id`. */
  requestId: 'x-portcullis-request-id',
} as const;

/** The caller of a request, as established by the gateway. */
export type CredentialKind = 'jwt' | 'api_key';

export interface Identity {
  subject: string;
  scopes: readonly string[];
  roles: readonly string[];
  /** The OAuth client that obtained the token; empty for API keys. */
  clientId: string;
  credential: CredentialKind;
  /** The public id of the API key, for API key callers. */
  keyId?: string;
  /**
   * The access token's claims, for object-level rules; absent for API key
   * callers, who have only their owner as `subject`. Never sent upstream.
   */
  claims?: Readonly<Record<string, unknown>>;
}

/** Builds the identity headers for an authenticated caller. */
export function identityHeaders(identity: Identity, requestId: string): Record<string, string> {
  const headers: Record<string, string> = {
    [IDENTITY_HEADERS.subject]: identity.subject,
    [IDENTITY_HEADERS.scope]: identity.scopes.join(' '),
    [IDENTITY_HEADERS.roles]: identity.roles.join(' '),
    [IDENTITY_HEADERS.clientId]: identity.clientId,
    [IDENTITY_HEADERS.credential]: identity.credential,
    [IDENTITY_HEADERS.requestId]: requestId,
  };
  if (identity.keyId !== undefined) {
    headers[IDENTITY_HEADERS.keyId] = identity.keyId;
  }
  return headers;
}

/** Tells whether a header name belongs to the gateway's identity headers. */
export function isIdentityHeader(name: string): boolean {
  return name.toLowerCase().startsWith(IDENTITY_HEADER_PREFIX);
}

type HeaderValue = string | string[] | undefined;

function firstValue(value: HeaderValue): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function splitList(value: string | undefined): string[] {
  if (value === undefined || value.trim() === '') {
    return [];
  }

  return value.trim().split(/\s+/);
}

/**
 * Reads the identity headers that the gateway sent with a request.
 *
 * Returns undefined when the subject is missing, which means the request did
 * not come through the gateway's authentication step.
 */
export function readIdentityHeaders(headers: Record<string, HeaderValue>): Identity | undefined {
  const subject = firstValue(headers[IDENTITY_HEADERS.subject]);
  if (subject === undefined || subject === '') {
    return undefined;
  }

  return {
    subject,
    scopes: splitList(firstValue(headers[IDENTITY_HEADERS.scope])),
    roles: splitList(firstValue(headers[IDENTITY_HEADERS.roles])),
    clientId: firstValue(headers[IDENTITY_HEADERS.clientId]) ?? '',
    credential: firstValue(headers[IDENTITY_HEADERS.credential]) === 'api_key' ? 'api_key' : 'jwt',
    ...(firstValue(headers[IDENTITY_HEADERS.keyId]) === undefined ? {} : { keyId: firstValue(headers[IDENTITY_HEADERS.keyId]) as string }),
  };
}
