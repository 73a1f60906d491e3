import type { KoaContextWithOIDC } from 'oidc-provider';

/**
 * Turns oidc-provider's rejection of a JWT at the introspection endpoint into
 * `{"active": false}`.
 *
 * oidc-provider 9 rejects any compact JWS or JWE there with 400
 * `unsupported_token_type`, an error RFC 7662 does not define, and has no
 * setting to introspect its own JWT access tokens. RFC 7662 section 2.2
 * requires `active: false` for a token that the caller may not introspect.
 * oidc-provider authenticates the client before it reads the token, so a
 * failed client authentication still gets 401 `invalid_client`.
 */
export async function answerJwtIntrospection(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  await next();

  if (ctx.oidc?.route !== 'introspection' || ctx.status !== 400) {
    return;
  }

  const body = ctx.body as { error?: unknown } | undefined;
  if (body?.error === 'unsupported_token_type') {
    ctx.status = 200;
    ctx.body = { active: false };
  }
}
