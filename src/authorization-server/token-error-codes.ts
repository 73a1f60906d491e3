import type { KoaContextWithOIDC } from 'oidc-provider';

/** The description oidc-provider 9 sends when a client asks for a grant type it is not registered for. */
const GRANT_TYPE_NOT_ALLOWED = 'requested grant type is not allowed for this client';

/** The description oidc-provider 9 sends when a client asks for a response type it is not registered for. */
const RESPONSE_TYPE_NOT_ALLOWED = 'requested response_type is not allowed for this client';

/** The description, by route, of a request for a grant or response type that the client is not registered for. */
const NOT_REGISTERED_FOR: Readonly<Record<string, string>> = {
  token: GRANT_TYPE_NOT_ALLOWED,
  pushed_authorization_request: RESPONSE_TYPE_NOT_ALLOWED,
};

/**
 * The descriptions oidc-provider 9 sends for an Authorization header that
 * cannot authenticate a client: an empty secret, another scheme than Basic,
 * or a value that is not base64 of a percent-encoded `id:secret`.
 */
const FAILED_HEADER_AUTHENTICATION = new Set([
  'client_secret must be provided in the Authorization header',
  'invalid authorization header value format',
  'client_id and client_secret in the authorization header are not properly encoded',
]);

/** The description oidc-provider 9 sends for a request that names no client at all. */
const NO_CLIENT_AUTHENTICATION = 'no client authentication mechanism provided';

/**
 * The description of a failed client authentication that sent its secret
 * in the form body. Without `client_secret_post` among the methods,
 * oidc-provider 9 drops that parameter unread, so the request reaches it
 * with a client id and no secret.
 */
const SECRET_IN_BODY = 'client_secret in the request body is not supported, send the client credentials in the Authorization header (client_secret_basic)';

/**
 * Endpoints that authenticate clients and return errors in the RFC 6749
 * format. RFC 9126 section 2.3 gives the pushed authorization request
 * endpoint the token endpoint's error responses.
 */
const CLIENT_AUTHENTICATING_ROUTES = new Set(['token', 'introspection', 'revocation', 'pushed_authorization_request']);

/**
 * Corrects error codes of oidc-provider 9 to the ones RFC 6749 section 5.2
 * defines, so clients can tell a policy rejection or a failed client
 * authentication from a malformed request:
 *
 * - a grant type the client may not use, and a response type it may not
 *   use in a pushed authorization request, get `unauthorized_client`, not
 *   `invalid_request`;
 * - an Authorization header that cannot authenticate a client (an empty
 *   secret, another scheme, a malformed value) and a request with no client
 *   authentication at all are failed client authentications, so they get
 *   401 `invalid_client` like a wrong secret does;
 * - a 401 `invalid_client` of a request without an Authorization header
 *   that sent `client_secret` in the body gets a description stating that the
 *   secret belongs in the header, for known and unknown client ids alike;
 * - a 401 `invalid_client` carries a Basic challenge whenever Basic is the
 *   method the request should have used. oidc-provider sends one only for
 *   a wrong secret in an Authorization header. Portcullis adds it for any
 *   other Authorization header, for a client registered for Basic and for
 *   a request that names no client. A public client, a client that signs
 *   JWT assertions and an unknown client get no challenge for a method they
 *   cannot use, so OAuth client libraries report the error from the body.
 */
export async function correctTokenErrorCodes(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  await next();

  const route = ctx.oidc?.route;
  if (route === undefined || !CLIENT_AUTHENTICATING_ROUTES.has(route)) {
    return;
  }

  const body = ctx.body as { error?: unknown; error_description?: unknown } | undefined;
  if (ctx.status === 400 && body?.error === 'invalid_request') {
    if (body.error_description === NOT_REGISTERED_FOR[route]) {
      ctx.body = { ...body, error: 'unauthorized_client' };
      return;
    }

    if (typeof body.error_description === 'string' && FAILED_HEADER_AUTHENTICATION.has(body.error_description)) {
      ctx.status = 401;
      ctx.body = { error: 'invalid_client', error_description: 'client authentication failed' };
    } else if (body.error_description === NO_CLIENT_AUTHENTICATION) {
      ctx.status = 401;
      ctx.body = { error: 'invalid_client', error_description: 'client authentication is missing' };
    }
  }

  const error = (ctx.body as { error?: unknown } | undefined)?.error;
  if (ctx.status === 401 && error === 'invalid_client' && sentSecretInBody(ctx)) {
    ctx.body = { error: 'invalid_client', error_description: SECRET_IN_BODY };
  }
  if (ctx.status === 401 && error === 'invalid_client' && !ctx.response.get('www-authenticate') && shouldUseBasic(ctx)) {
    ctx.set('www-authenticate', `Basic realm="${ctx.oidc.provider.issuer}", error="invalid_client"`);
  }
}

/** Tells whether a request whose client authentication failed should have used HTTP Basic. */
function shouldUseBasic(ctx: KoaContextWithOIDC): boolean {
  // RFC 6749 section 5.2: a client that tried the Authorization header gets a challenge.
  if (ctx.get('authorization') !== '') {
    return true;
  }

  const client = ctx.oidc.client;
  if (client !== undefined) {
    return client.clientAuthMethod === 'client_secret_basic';
  }
  const params = ctx.oidc.params ?? {};
  return params['client_id'] === undefined && params['client_assertion'] === undefined;
}

/** Tells whether a request sent a client secret in the form body and no Authorization header. */
function sentSecretInBody(ctx: KoaContextWithOIDC): boolean {
  const secret = ctx.oidc.body?.['client_secret'];
  // oidc-provider treats an empty parameter as a missing one.
  return ctx.get('authorization') === '' && secret !== undefined && secret !== '';
}
