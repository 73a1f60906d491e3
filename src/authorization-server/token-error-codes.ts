import type { KoaContextWithOIDC } from 'oidc-provider';

/** The description oidc-provider 9 sends when a client asks for a grant type it is not registered for. */
const GRANT_TYPE_NOT_ALLOWED = 'requested grant type is not allowed for this client';

/**
 * Renames the token endpoint's error for a grant type the client may not use.
 * oidc-provider 9 sends `invalid_request`, but RFC 6749 section 5.2 defines
 * `unauthorized_client` for it, which lets clients tell a policy rejection
 * from a malformed request.
 */
export async function unauthorizedClientForDisallowedGrant(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  await next();

  if (ctx.status !== 400 || ctx.oidc?.route !== 'token') {
    return;
  }

  const body = ctx.body as { error?: unknown; error_description?: unknown } | undefined;
  if (body?.error === 'invalid_request' && body.error_description === GRANT_TYPE_NOT_ALLOWED) {
    ctx.body = { ...body, error: 'unauthorized_client' };
  }
}
