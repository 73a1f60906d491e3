/** Endpoint paths of the authorization server, relative to the issuer. */
export const ROUTES = {
  authorization: '/oauth/authorize',
  token: '/oauth/token',
  userinfo: '/oauth/userinfo',
  revocation: '/oauth/revoke',
  introspection: '/oauth/introspect',
  jwks: '/.well-known/jwks.json',
  pushed_authorization_request: '/oauth/par',
  end_session: '/oauth/logout',
} as const;

/**
 * Paths of the metadata document: OpenID Connect Discovery and RFC 8414.
 * oidc-provider fixes both and serves the same document at each.
 */
export const DISCOVERY_PATHS = ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server'] as const;

/**
 * Endpoints where oidc-provider 9 sends CORS headers, so that browser apps
 * can call them. It allows the origins that `clientBasedCORS` allows, and
 * any origin on the discovery documents and the JWKS, where Portcullis
 * allows only the listed ones. Errors that Portcullis sends on these paths
 * before oidc-provider runs, such as a global 429, carry the same headers.
 */
export const PROVIDER_CORS_PATHS = [
  ROUTES.token,
  ROUTES.userinfo,
  ROUTES.revocation,
  ROUTES.introspection,
  ROUTES.pushed_authorization_request,
  ROUTES.jwks,
  ...DISCOVERY_PATHS,
] as const;

/**
 * Response headers a browser app may read on errors that Portcullis sends
 * on {@link PROVIDER_CORS_PATHS} before oidc-provider runs, such as the
 * Retry-After, RateLimit and RateLimit-Policy fields of a 429.
 */
export const PROVIDER_EARLY_EXPOSED_HEADERS = ['www-authenticate', 'retry-after', 'ratelimit', 'ratelimit-policy'] as const;

/**
 * Request headers that a preflight to oidc-provider's endpoints allows. The
 * endpoints read only client or bearer credentials and a form body, and
 * DPoP is off. oidc-provider 9 would allow any header the preflight lists.
 */
export const PROVIDER_CORS_ALLOWED_HEADERS = ['authorization', 'content-type'] as const;
