/**
 * Names of the browser cookies that the sign-in pages and oidc-provider set
 * on the issuer's origin.
 *
 * Over https, the session and CSRF cookies carry the `__Host-` prefix of
 * draft-ietf-httpbis-rfc6265bis. Browsers accept such a cookie only with
 * Secure, `Path=/` and no Domain attribute, so a sibling subdomain cannot
 * plant one on the issuer's host. A planted session would sign the victim
 * in as the attacker, and a planted CSRF cookie, with the token the
 * attacker got beside it, would let a cross-site form pass the CSRF check.
 * Browsers reject the prefix without Secure, so an http issuer, which
 * serves only local development, keeps the plain names.
 *
 * NOTE: oidc-provider scopes its interaction cookies to the interaction's
 * path, which the `__Host-` prefix forbids, so those keep their names.
 */

const HOST_PREFIX = '__Host-';

export interface IssuerCookieNames {
  /** oidc-provider's session cookie, which keeps the user signed in. */
  session: string;
  /** The cookie with the secret that the sign-in forms' CSRF tokens are checked against. */
  csrf: string;
}

/** Returns the cookie names for an issuer reached over https (`secure`) or plain http. */
export function issuerCookieNames(secure: boolean): IssuerCookieNames {
  if (!secure) {
    return { session: '_session', csrf: 'portcullis_csrf' };
  }

  return { session: `${HOST_PREFIX}portcullis_session`, csrf: `${HOST_PREFIX}portcullis_csrf` };
}
