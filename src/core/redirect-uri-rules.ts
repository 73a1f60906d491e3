/**
 * Rules for redirect URIs registered by administrators.
 *
 * Authorization requests match redirect URIs by exact string comparison
 * (RFC 9700 section 4.1.3), so a registered URI must already be in the
 * canonical form that the WHATWG URL parser produces: otherwise the
 * registered string and what a browser navigates to could name different
 * places. The one exception is the port of a native app's loopback
 * redirect URI, which oidc-provider leaves free (RFC 8252 section 7.3).
 */

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** Returns the problem with a redirect URI, or undefined when it is acceptable. */
export function checkRedirectUri(uri: string): string | undefined {
  const parsed = URL.parse(uri);
  if (parsed === null) {
    return `'${uri}' is not an absolute URL`;
  }

  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    return `'${uri}' must use https (or http on a loopback host)`;
  }

  if (parsed.protocol === 'http:' && !LOOPBACK_HOSTS.has(parsed.hostname)) {
    return `'${uri}' uses http on a host that is not loopback; use https`;
  }

  if (parsed.username !== '' || parsed.password !== '') {
    return `'${uri}' must not contain a user name or password`;
  }

  if (parsed.hash !== '' || uri.includes('#')) {
    return `'${uri}' must not contain a fragment`;
  }

  if (uri.includes('*')) {
    return `'${uri}' must not contain wildcards`;
  }

  if (parsed.href !== uri) {
    return `'${uri}' is not in canonical form; register it as '${parsed.href}'`;
  }

  return undefined;
}

/** Loopback IP literals that a native app listens on (RFC 8252 section 7.3). */
const LOOPBACK_LITERALS = new Set(['127.0.0.1', '[::1]']);

/**
 * Returns the problem with a redirect URI of a native app, or undefined when
 * it is acceptable. The app receives the redirect either on a loopback IP
 * literal over http, on a port it picks for each request, or on an https
 * URI that it claims on the web (RFC 8252 sections 7.2 and 7.3).
 * `localhost` is rejected because it may resolve elsewhere (section 8.3).
 */
export function checkNativeRedirectUri(uri: string): string | undefined {
  const problem = checkRedirectUri(uri);
  if (problem !== undefined) {
    return problem;
  }

  const { protocol, hostname } = new URL(uri);
  if (protocol === 'http:' && !LOOPBACK_LITERALS.has(hostname)) {
    return `'${uri}' names ${hostname}; a native app's loopback redirect URI names 127.0.0.1 or [::1]`;
  }
  if (protocol === 'https:' && LOOPBACK_HOSTS.has(hostname)) {
    return `'${uri}' uses https on a loopback host; a native app receives loopback redirects over http`;
  }

  return undefined;
}
