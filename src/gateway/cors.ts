/**
 * CORS of the gateway. `@fastify/cors` handles preflights and sets the
 * headers on the responses of the gateway's routes. A response sent before
 * the gateway's hooks run, such as the 429 of the per-address limit or the
 * 400 for a malformed URL, gets its headers from `gatewayCorsHeaders`, so a
 * listed browser origin can read every error of the API.
 */

/** Methods a preflight allows. */
export const CORS_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** Request headers a preflight allows. */
export const CORS_ALLOWED_HEADERS = ['authorization', 'content-type'];

/**
 * Response headers a browser lets the calling script read, beyond the
 * CORS-safelisted ones. The rate-limit headers tell a browser app when to
 * retry after a 429.
 */
export const CORS_EXPOSED_HEADERS = ['location', 'x-request-id', 'www-authenticate', 'retry-after', 'ratelimit', 'ratelimit-policy'];

/** CORS response headers for one request, or undefined for a request outside the gateway's mount paths. */
export type CorsHeaders = (url: string, origin: string | undefined) => Record<string, string> | undefined;

function isUnderMountPath(url: string, mountPath: string): boolean {
  if (!url.startsWith(mountPath)) {
    return false;
  }
  const next = url.charAt(mountPath.length);
  return next === '' || next === '/' || next === '?';
}

/**
 * Builds the CORS headers of gateway responses sent before the gateway's
 * own CORS hook runs. `url` is the raw request target. Every response under
 * a mount path varies by Origin, and only a listed origin is named in
 * Access-Control-Allow-Origin, never with credentials.
 */
export function gatewayCorsHeaders(origins: readonly string[], mountPaths: readonly string[]): CorsHeaders {
  const exposed = CORS_EXPOSED_HEADERS.join(', ');
  const unlisted: Record<string, string> = { vary: 'Origin' };
  const listed = new Map<string, Record<string, string>>(
    origins.map((origin) => [origin, { vary: 'Origin', 'access-control-allow-origin': origin, 'access-control-expose-headers': exposed }]),
  );

  return (url, origin) => {
    if (!mountPaths.some((mountPath) => isUnderMountPath(url, mountPath))) {
      return undefined;
    }
    return (origin === undefined ? undefined : listed.get(origin)) ?? unlisted;
  };
}
