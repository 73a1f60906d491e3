import type { KoaContextWithOIDC } from 'oidc-provider';

/** The description oidc-provider 9 sends when a client asks for a grant type it is not registered for. */
const GRANT_TYPE_NOT_ALLOWED = 'requested grant type is not allowed for this client';

/** The description oidc-provider 9 sends for `Authorization: Basic` with an empty secret. */
const EMPTY_BASIC_SECRET = 'client_secret must be provided in the Authorization header';

/** The description oidc-provider 9 sends for a request that names no client at all. */
const NO_CLIENT_AUTHENTICATION = 'no client authentication mechanism provided';

/** Endpoints that authenticate clients and return errors in the RFC 6749 format. */
const CLIENT_AUTHENTICATING_ROUTES = new Set(['token', 'introspection', 'revocation']);

/**
 * Corrects error codes of oidc-provider 9 to the ones RFC 6749 section 5.2
 * defines, so clients can tell a policy rejection or a failed client
 * authentication from a malformed request:
 *
 * - a grant type the client may not use is `unauthorized_client`, not
 *   `invalid_request`;
 * - `Authorization: Basic` with an empty secret, and a request with no
 *   client authentication at all, are failed client authentications, so
 *   they get 401 `invalid_client` like a wrong secret does;
 * - every 401 `invalid_client` carries a Basic challenge, also when the
 *   client sent its secret in the body or no credentials at all, where
 *   oidc-provider sends none. A client that sent a JWT assertion gets no
 *   challenge, since no HTTP authentication scheme fits its method.
 */
export async function correctTokenErrorCodes(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  await next();

  const route = ctx.oidc?.route;
  if (route === undefined || !CLIENT_AUTHENTICATING_ROUTES.has(route)) {
    return;
  }

  const body = ctx.body as { error?: unknown; error_description?: unknown } | undefined;
  if (ctx.status === 400 && body?.error === 'invalid_request') {
    if (route === 'token' && body.error_description === GRANT_TYPE_NOT_ALLOWED) {
      ctx.body = { ...body, error: 'unauthorized_client' };
      return;
    }

    if (body.error_description === EMPTY_BASIC_SECRET) {
      ctx.status = 401;
      ctx.body = { error: 'invalid_client', error_description: 'client authentication failed' };
    } else if (body.error_description === NO_CLIENT_AUTHENTICATION) {
      ctx.status = 401;
      ctx.body = { error: 'invalid_client', error_description: 'client authentication is missing' };
    }
  }

  const error = (ctx.body as { error?: unknown } | undefined)?.error;
  const sentAssertion = ctx.oidc.params?.['client_assertion'] !== undefined;
  if (ctx.status === 401 && error === 'invalid_client' && !sentAssertion && !ctx.response.get('www-authenticate')) {
    ctx.set('www-authenticate', `Basic realm="${ctx.oidc.provider.issuer}", error="invalid_client"`);
  }
}
