import { decodeProtectedHeader } from 'jose';
import type { KoaContextWithOIDC } from 'oidc-provider';

/** The `error_description` for a JWT access token presented at the userinfo endpoint. */
export const JWT_AT_USERINFO_DESCRIPTION =
  'the userinfo endpoint accepts no JWT access tokens, which Portcullis issues for the API only; read the claims from the ID token, or refresh with only OpenID scopes to get a token for userinfo';

/** Returns the bearer token of the request: from the Authorization header, or else from the form body. */
function presentedToken(ctx: KoaContextWithOIDC): string | undefined {
  const header = /^Bearer +(\S+)$/i.exec(ctx.get('authorization'));
  if (header?.[1] !== undefined) {
    return header[1];
  }
  const parameter = ctx.oidc?.params?.['access_token'];
  return typeof parameter === 'string' ? parameter : undefined;
}

function isCompactJws(token: string): boolean {
  try {
    decodeProtectedHeader(token);
    return token.split('.').length === 3;
  } catch {
    return false;
  }
}

/**
 * Explains oidc-provider's 401 `invalid_token` at the userinfo endpoint
 * when the token is a JWT.
 *
 * Portcullis issues JWT access tokens only for the API, and oidc-provider 9
 * looks up only its opaque tokens there, so it rejects the API token with
 * "invalid token provided", as it does a revoked or made-up token. OpenID
 * client libraries that call userinfo right after the code exchange get
 * that error whenever the client also requested an API scope.
 */
export async function explainJwtAtUserinfo(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  await next();

  if (ctx.oidc?.route !== 'userinfo' || ctx.status !== 401) {
    return;
  }
  const body = ctx.body as { error?: unknown } | undefined;
  const token = presentedToken(ctx);
  if (body?.error !== 'invalid_token' || token === undefined || !isCompactJws(token)) {
    return;
  }

  ctx.body = { error: 'invalid_token', error_description: JWT_AT_USERINFO_DESCRIPTION };
  ctx.set('www-authenticate', `Bearer realm="${ctx.oidc.provider.issuer}", error="invalid_token", error_description="${JWT_AT_USERINFO_DESCRIPTION}"`);
}
