/** CORS settings of the gateway, which `@fastify/cors` applies to the gateway's routes. */

/** Methods a preflight allows. */
export const CORS_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** Request headers a preflight allows. */
export const CORS_ALLOWED_HEADERS = ['authorization', 'content-type'];

/**
 * Response headers a browser lets the calling script read, beyond the
 * CORS-safelisted ones. The rate-limit headers tell a browser app when to
 * retry after a 429. Deprecation, Sunset and Link announce an operation's
 * lifecycle, and Link also carries the upstream's own links.
 */
export const CORS_EXPOSED_HEADERS = [
  'location',
  'x-request-id',
  'www-authenticate',
  'retry-after',
  'ratelimit',
  'ratelimit-policy',
  'deprecation',
  'sunset',
  'link',
];
