/**
 * CORS headers of responses sent before the CORS handling of a part runs,
 * such as the 429 of the per-address limit or the 400 for a malformed URL.
 * `@fastify/cors` handles the gateway's routes and oidc-provider its
 * endpoints, but both run after the app's own first hooks, so without these
 * headers a listed browser origin could not read such errors.
 */

/** CORS response headers for one request, or undefined for a request outside every scope. */
export type CorsHeaders = (url: string, origin: string | undefined) => Record<string, string> | undefined;

/** Paths whose responses carry CORS headers for listed origins, and the response headers a browser may read there. */
export interface CorsScope {
  /** Path prefixes, each matched as a whole path or followed by `/` or `?`. */
  paths: readonly string[];
  exposedHeaders: readonly string[];
}

function isUnderPath(url: string, path: string): boolean {
  if (!url.startsWith(path)) {
    return false;
  }
  const next = url.charAt(path.length);
  return next === '' || next === '/' || next === '?';
}

/**
 * Builds the CORS headers of responses under `scopes`. `url` is the request
 * target in origin form. Every response in a scope varies by Origin, and only
 * a listed origin is named in Access-Control-Allow-Origin, never with
 * credentials.
 */
export function earlyCorsHeaders(origins: readonly string[], scopes: readonly CorsScope[]): CorsHeaders {
  const unlisted: Record<string, string> = { vary: 'Origin' };
  // One entry per path, with the headers of each listed origin built here,
  // because the lookup runs on every request.
  const entries = scopes.flatMap((scope) => {
    const exposed = scope.exposedHeaders.join(', ');
    const listed = new Map<string, Record<string, string>>(
      origins.map((origin) => [origin, { vary: 'Origin', 'access-control-allow-origin': origin, 'access-control-expose-headers': exposed }]),
    );
    return scope.paths.map((path) => ({ path, listed }));
  });

  return (url, origin) => {
    for (const { path, listed } of entries) {
      if (isUnderPath(url, path)) {
        return (origin === undefined ? undefined : listed.get(origin)) ?? unlisted;
      }
    }
    return undefined;
  };
}
