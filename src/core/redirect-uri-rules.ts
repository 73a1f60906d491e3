/**
 * Rules for redirect URIs registered by administrators.
 *
 * Authorization requests match redirect URIs by exact string comparison
 * (RFC 9700 section 4.1.3), so a registered URI must already be in the
 * canonical form that the WHATWG URL parser produces: otherwise the
 * registered string and what a browser navigates to could name different
 * places.
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
