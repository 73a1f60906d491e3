import type { KoaContextWithOIDC } from 'oidc-provider';

/** The description oidc-provider 9 sends when a client asks for a grant type it is not registered for. */
const GRANT_TYPE_NOT_ALLOWED = 'requested grant type is not allowed for this client';

/** The description oidc-provider 9 sends for `Authorization: Basic` with an empty secret. */
const EMPTY_BASIC_SECRET = 'client_secret must be provided in the Authorization header';

/** Endpoints that authenticate clients and return errors in the RFC 6749 format. */
const CLIENT_AUTHENTICATING_ROUTES = new Set(['token', 'introspection', 'revocation']);

/**
 * Corrects two error codes of oidc-provider 9 to the ones RFC 6749 section
 * 5.2 defines, so clients can tell a policy rejection or a failed client
 * authentication from a malformed request:
 *
 * - a grant type the client may not use is `unauthorized_client`, not
 *   `invalid_request`;
 * - `Authorization: Basic` with an empty secret is a failed client
 *   authentication, so it gets 401 `invalid_client` with a Basic challenge,
 *   like a wrong secret does.
 */
export async function correctTokenErrorCodes(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  await next();

  const route = ctx.oidc?.route;
  if (ctx.status !== 400 || route === undefined || !CLIENT_AUTHENTICATING_ROUTES.has(route)) {
    return;
  }

  const body = ctx.body as { error?: unknown; error_description?: unknown } | undefined;
  if (body?.error !== 'invalid_request') {
    return;
  }

  if (route === 'token' && body.error_description === GRANT_TYPE_NOT_ALLOWED) {
    ctx.body = { ...body, error: 'unauthorized_client' };
    return;
  }

  if (body.error_description === EMPTY_BASIC_SECRET) {
    ctx.status = 401;
    ctx.body = { error: 'invalid_client', error_description: 'client authentication failed' };
    ctx.set('www-authenticate', `Basic realm="${ctx.oidc.provider.issuer}", error="invalid_client"`);
  }
}
