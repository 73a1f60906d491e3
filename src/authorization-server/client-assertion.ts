/**
 * Limits on `private_key_jwt` client assertions beyond the checks that
 * oidc-provider makes itself (signature, `iss`, one `aud` of this server,
 * `jti` used once).
 */

import { errors } from 'oidc-provider';

/**
 * The maximum time from now to an assertion's `exp`, in seconds. An
 * assertion valid for longer would be a reusable credential if it leaked
 * before its first use, and its replay detection entry would be kept until
 * that far `exp`.
 */
export const MAX_CLIENT_ASSERTION_LIFETIME_SECONDS = 300;

/**
 * Rejects a client assertion whose `exp` lies more than
 * MAX_CLIENT_ASSERTION_LIFETIME_SECONDS, plus the clock tolerance, after now
 * (RFC 7523 section 3 lets the server reject an `exp` that is unreasonably far
 * in the future).
 */
export function checkClientAssertionExpiry(claims: { exp?: unknown }, clockToleranceSeconds: number, nowSeconds = Date.now() / 1000): void {
  const expiresAt = claims.exp;
  // oidc-provider has already required a numeric `exp` and checked that it has not passed.
  if (typeof expiresAt !== 'number' || expiresAt - nowSeconds > MAX_CLIENT_ASSERTION_LIFETIME_SECONDS + clockToleranceSeconds) {
    throw new errors.InvalidClientAuth(`the client assertion must expire within ${MAX_CLIENT_ASSERTION_LIFETIME_SECONDS} seconds`);
  }
}

/**
 * Rejects a client assertion whose `aud` list names an audience outside
 * `accepted`, the identifiers of this server that oidc-provider accepts
 * (issuer, token endpoint URL, the URL the assertion is sent to).
 * oidc-provider 9 accepts a list that contains one of them, so every other
 * server named in it could replay the assertion here before the client
 * uses it.
 *
 * NOTE: draft-ietf-oauth-rfc7523bis goes further and requires the issuer
 * identifier as the sole audience. The token endpoint URL, which RFC 7523
 * suggests, stays allowed for existing clients.
 */
export function checkClientAssertionAudience(claims: { aud?: unknown }, accepted: ReadonlySet<string>): void {
  if (!Array.isArray(claims.aud)) {
    return;
  }

  if (claims.aud.some((audience) => typeof audience !== 'string' || !accepted.has(audience))) {
    throw new errors.InvalidClientAuth('the aud list of the client assertion names another audience; name only this server');
  }
}
