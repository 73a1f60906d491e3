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

/**
 * Schemes that a browser or the operating system handles itself: a redirect
 * there runs or reads content in the browser, or opens another program,
 * instead of reaching the app. The first six are the ones oidc-provider
 * 9.13 rejects for native clients. None contains a period, so the reverse
 * domain name rule would reject them too, but with a less helpful message.
 */
const WELL_KNOWN_SCHEMES = new Set([
  'javascript',
  'vbscript',
  'data',
  'blob',
  'file',
  'about',
  'filesystem',
  'view-source',
  'ftp',
  'ws',
  'wss',
  'mailto',
  'tel',
  'sms',
  'intent',
]);

/**
 * Parameters of the authorization response: those of the authorization
 * code flow and its errors (RFC 6749 section 4.1.2) and `iss` (RFC 9207).
 * oidc-provider 9 replaces a query parameter of the redirect URI that it
 * sends itself but keeps the others, so a registered `?code=x` reached the
 * client beside `error` in every error response.
 */
const RESPONSE_PARAMETERS = ['code', 'state', 'iss', 'error', 'error_description', 'error_uri'];

/** A DNS label in lowercase: 1 to 63 letters, digits and hyphens, with no hyphen at either end. */
const DOMAIN_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Returns true for a scheme, without its colon, that reads as a domain name
 * in reverse order, such as `com.example.app`: at least two DNS labels
 * joined by periods. RFC 8252 section 8.4 recommends rejecting at least
 * every private-use scheme without a period. Only lowercase letters pass,
 * because the WHATWG URL parser lowercases schemes.
 */
export function isPrivateUseScheme(scheme: string): boolean {
  const labels = scheme.split('.');
  return labels.length >= 2 && labels.every((label) => DOMAIN_LABEL.test(label));
}

/** Returns the problem with a redirect URI, or undefined when it is acceptable. */
export function checkRedirectUri(uri: string): string | undefined {
  const parsed = URL.parse(uri);
  if (parsed === null) {
    return `'${uri}' is not an absolute URL`;
  }

  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    return isPrivateUseScheme(parsed.protocol.slice(0, -1))
      ? `'${uri}' must use https (or http on a loopback host); a private-use URI scheme is accepted only for native app clients`
      : `'${uri}' must use https (or http on a loopback host)`;
  }

  if (parsed.protocol === 'http:' && !LOOPBACK_HOSTS.has(parsed.hostname)) {
    return `'${uri}' uses http on a host that is not loopback; use https`;
  }

  return checkUserInfoFragmentWildcard(uri, parsed) ?? checkHostName(uri, parsed) ?? checkResponseParameters(uri, parsed) ?? checkCanonicalForm(uri, parsed);
}

/**
 * Returns whether `hostname`, as the WHATWG URL parser outputs it, is a DNS
 * name, an IPv4 address or a bracketed IPv6 address. The parser lets other
 * characters such as `;`, `,` and `'` through in a host, but CSP host
 * sources allow only letters, digits, hyphens and periods. The sign-in
 * pages put the redirect URI's origin into their form-action directive, so
 * such a host would add directives to that policy or break it.
 */
export function isDnsOrIpHost(hostname: string): boolean {
  if (hostname.startsWith('[')) {
    return true;
  }
  const labels = hostname.endsWith('.') ? hostname.slice(0, -1).split('.') : hostname.split('.');
  return labels.every((label) => DOMAIN_LABEL.test(label));
}

function checkHostName(uri: string, parsed: URL): string | undefined {
  if (!isDnsOrIpHost(parsed.hostname)) {
    return `'${uri}' has the host '${parsed.hostname}', which is not a DNS name or IP address; use letters, digits, hyphens and periods only`;
  }
  return undefined;
}

function checkUserInfoFragmentWildcard(uri: string, parsed: URL): string | undefined {
  if (parsed.username !== '' || parsed.password !== '') {
    return `'${uri}' must not contain a user name or password`;
  }

  if (parsed.hash !== '' || uri.includes('#')) {
    return `'${uri}' must not contain a fragment`;
  }

  if (uri.includes('*')) {
    return `'${uri}' must not contain wildcards`;
  }

  return undefined;
}

function checkResponseParameters(uri: string, parsed: URL): string | undefined {
  const named = RESPONSE_PARAMETERS.filter((name) => parsed.searchParams.has(name));
  if (named.length > 0) {
    return `'${uri}' has the query parameter ${named.join(', ')}, which the authorization response sets; remove it from the redirect URI`;
  }
  return undefined;
}

function checkCanonicalForm(uri: string, parsed: URL): string | undefined {
  if (parsed.href !== uri) {
    return `'${uri}' is not in canonical form; register it as '${parsed.href}'`;
  }
  return undefined;
}

/** Loopback IP literals that a native app listens on (RFC 8252 section 7.3). */
const LOOPBACK_LITERALS = new Set(['127.0.0.1', '[::1]']);

/**
 * Returns the problem with a redirect URI of a native app, or undefined when
 * it is acceptable. RFC 8252 section 7 gives the app three ways to receive
 * the redirect. It registers a private-use scheme with the operating
 * system, listens over http on a loopback IP literal and a port it picks
 * for each request, or claims an https URI on the web. `localhost` is
 * rejected because it may resolve elsewhere (section 8.3).
 */
export function checkNativeRedirectUri(uri: string): string | undefined {
  const parsed = URL.parse(uri);
  if (parsed !== null && parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    return checkPrivateUseRedirectUri(uri, parsed);
  }

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

/**
 * Returns the problem with a native app's redirect URI whose scheme is
 * neither http nor https, or undefined when it is acceptable. Any program
 * on the device may register the same scheme, which is why the user
 * consents to every authorization request of a native client (RFC 8252
 * section 8.6).
 */
function checkPrivateUseRedirectUri(uri: string, parsed: URL): string | undefined {
  const scheme = parsed.protocol.slice(0, -1);
  if (WELL_KNOWN_SCHEMES.has(scheme)) {
    return `'${uri}' uses the ${scheme} scheme, which the browser or operating system handles itself; register a private-use scheme named after a domain the app controls, such as com.example.app:/oauth2redirect`;
  }
  if (!isPrivateUseScheme(scheme)) {
    return `'${uri}' uses the scheme '${scheme}', which is not a domain name in reverse order; use one based on a domain the app controls, such as com.example.app for app.example.com`;
  }

  const problem = checkUserInfoFragmentWildcard(uri, parsed) ?? checkResponseParameters(uri, parsed);
  if (problem !== undefined) {
    return problem;
  }

  // A private-use scheme has no naming authority, so one slash follows the
  // colon (RFC 8252 section 7.1, after RFC 3986 section 3.2).
  if (parsed.href.startsWith(`${parsed.protocol}//`)) {
    const path = `${parsed.host}${parsed.pathname}`.replace(/^\/+/, '');
    return `'${uri}' has an authority ('//' after the scheme); register it with one slash after the colon, as '${parsed.protocol}/${path}${parsed.search}'`;
  }
  if (!parsed.pathname.startsWith('/')) {
    return `'${uri}' must have a path that starts with one slash after the colon, such as '${parsed.protocol}/oauth2redirect'`;
  }

  return checkCanonicalForm(uri, parsed);
}
