/**
 * CORS settings for the cors packages of Express (`cors`) and Fastify
 * (`@fastify/cors`), which implement the protocol. The settings allow only
 * listed origins: `*`, `null` and any unlisted origin are never echoed, and
 * credentials are never allowed.
 */

/** How long a browser may cache a preflight response, in seconds. */
const PREFLIGHT_MAX_AGE_SECONDS = 600;

export interface CorsSettings {
  /** Browser origins allowed to call the API, each a serialized origin such as `https://app.example.com`. */
  origins: readonly string[];
  /** Request headers a browser may send. Default `authorization` and `content-type`. */
  allowedHeaders?: readonly string[];
}

/** Options accepted by both `cors` and `@fastify/cors`. */
export interface CorsOptions {
  /**
   * Passes the listed origins to `callback`, from which both packages name
   * only a request's own origin if it is listed, or false for a request
   * without Origin, which is no CORS request.
   */
  origin: (origin: string | undefined, callback: (error: Error | null, allowed: string[] | false) => void) => void;
  methods: string[];
  allowedHeaders: string[];
  exposedHeaders: string[];
  credentials: false;
  maxAge: number;
  /** Read by `@fastify/cors` only: a preflight without Access-Control-Request-Method is rejected. */
  strictPreflight: true;
}

function requireSerializedOrigin(origin: string): void {
  let parsed: URL | undefined;
  try {
    parsed = new URL(origin);
  } catch {
    parsed = undefined;
  }

  if (parsed === undefined || parsed.origin !== origin || parsed.origin === 'null') {
    throw new RangeError(`Invalid CORS origin '${origin}': use a scheme, host and optional port, such as https://app.example.com.`);
  }
}

/** A header field name, which is a token (RFC 9110 sections 5.1 and 5.6.2). */
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/**
 * Throws a RangeError for an allowed header that is not one header name.
 * Node.js rejects a line break in a header value, so such a name would fail
 * every preflight, and `*` would allow any request header.
 */
function requireHeaderName(name: string): void {
  if (!HEADER_NAME.test(name) || name === '*') {
    throw new RangeError(`Invalid CORS allowed header ${JSON.stringify(name)}: list each request header by its name, such as x-request-id.`);
  }
}

/** Tells whether `value` is a list of non-empty strings. A string alone is not, although it would iterate as a list of characters. */
function isTextList(value: unknown): value is readonly string[] {
  return Array.isArray(value) && value.every((entry) => typeof entry === 'string' && entry !== '');
}

/**
 * Builds CORS options that allow only `settings.origins`. Throws a
 * RangeError for settings of the wrong shape, an origin that is not a
 * serialized origin, or an allowed header that is not a header name.
 */
export function corsOptions(settings: CorsSettings): CorsOptions {
  if (!isTextList(settings.origins)) {
    throw new RangeError(`cors.origins must be a list of origins such as ['https://app.example.com'], got ${JSON.stringify(settings.origins) ?? 'undefined'}.`);
  }
  if (settings.allowedHeaders !== undefined && !isTextList(settings.allowedHeaders)) {
    throw new RangeError(`cors.allowedHeaders must be a list of header names such as ['authorization', 'content-type'], got ${JSON.stringify(settings.allowedHeaders)}.`);
  }
  for (const origin of settings.origins) {
    requireSerializedOrigin(origin);
  }
  for (const name of settings.allowedHeaders ?? []) {
    requireHeaderName(name);
  }
  const listed = [...settings.origins];

  return {
    // The list, not a boolean, because `cors` sets no header at all for an
    // origin resolved to false, Vary included. A response that names the
    // origin for some requests must vary by Origin on all of them, or a
    // shared cache could serve one origin's response to another. Without
    // an Origin, `@fastify/cors` would reject any OPTIONS request as an
    // invalid preflight, in plain text.
    // NOTE: so with `cors` a response to a request without Origin has no
    // `Vary: Origin`. A shared cache may then serve it to a listed origin,
    // whose browser rejects it for its missing Access-Control-Allow-Origin.
    origin: (origin, callback) => callback(null, origin === undefined ? false : listed),
    methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: [...(settings.allowedHeaders ?? ['authorization', 'content-type'])],
    exposedHeaders: ['location', 'x-request-id', 'www-authenticate', 'retry-after', 'ratelimit', 'ratelimit-policy'],
    credentials: false,
    maxAge: PREFLIGHT_MAX_AGE_SECONDS,
    strictPreflight: true,
  };
}
