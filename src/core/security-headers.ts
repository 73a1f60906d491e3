/**
 * Response headers that every Portcullis response carries.
 *
 * API responses get a Content-Security-Policy that forbids everything, so a
 * JSON body that a browser is tricked into rendering cannot run script or be
 * framed. Pages replace it with their own policy.
 */

export const API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/** One year, in seconds, the usual HSTS lifetime. */
const HSTS_MAX_AGE_SECONDS = 31_536_000;

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
    'x-permitted-cross-domain-policies': 'none',
    'content-security-policy': API_CONTENT_SECURITY_POLICY,
  };

  if (options.https) {
    headers['strict-transport-security'] = `max-age=${HSTS_MAX_AGE_SECONDS}; includeSubDomains`;
  }

  return headers;
}
