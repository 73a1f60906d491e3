/**
 * Response headers that every Portcullis response carries: the headers the
 * OWASP Secure Headers Project lists as active, with its recommended values.
 *
 * API responses get a Content-Security-Policy that forbids everything, so a
 * JSON body that a browser is tricked into rendering cannot run script or be
 * framed. Pages replace it with their own policy.
 *
 * Cache-Control is no-store because nearly every response carries or
 * depends on a credential. A response with public content, such as the
 * stylesheet, sets its own Cache-Control.
 */

export const API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/** One year, in seconds, the usual HSTS lifetime. */
const HSTS_MAX_AGE_SECONDS = 31_536_000;

/** Turns off browser features that no Portcullis page or API response uses. */
const PERMISSIONS_POLICY = 'accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()';

/**
 * Response headers that name the server software, its framework or its
 * version, as Express, IIS with ASP.NET and Rack send them. Portcullis sends
 * none of them, and the gateway drops them from upstream responses.
 */
export const SOFTWARE_BANNER_HEADERS: readonly string[] = ['server', 'x-powered-by', 'x-aspnet-version', 'x-aspnetmvc-version', 'x-runtime'];

export interface SecurityHeaderOptions {
  /** True when clients reach Portcullis over https (directly or through a TLS proxy). */
  https: boolean;
}

/** Builds the security headers for a response. */
export function securityHeaders(options: SecurityHeaderOptions): Record<string, string> {
  const headers: Record<string, string> = {
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-embedder-policy': 'require-corp',
    'cross-origin-resource-policy': 'same-origin',
    'x-permitted-cross-domain-policies': 'none',
    'x-dns-prefetch-control': 'off',
    'permissions-policy': PERMISSIONS_POLICY,
    'content-security-policy': API_CONTENT_SECURITY_POLICY,
    'cache-control': 'no-store',
  };

  if (options.https) {
    headers['strict-transport-security'] = `max-age=${HSTS_MAX_AGE_SECONDS}; includeSubDomains`;
  }

  return headers;
}
