import type { FastifyInstance, RouteOptions } from 'fastify';

/** Returns the methods served on `path`, or undefined when nothing is served there. */
export type AllowedMethodsLookup = (path: string) => readonly string[] | undefined;

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Methods that a catch-all route serves on each path it matches, for
     * a route whose handler routes the requests further, such as
     * oidc-provider's endpoints. Without it, a route serves its own methods
     * on every path it matches.
     */
    allowedMethods?: AllowedMethodsLookup;
  }
}

interface ServedRoute {
  /** The route's path segments, or undefined for a wildcard route, which matches every path under `prefix`. */
  segments: readonly string[] | undefined;
  prefix: string;
  methods: Set<string>;
  lookup: AllowedMethodsLookup | undefined;
}

/** A path segment that Fastify reads as one whole parameter, such as `:uid`. */
const PARAMETER_SEGMENT = /^:[A-Za-z0-9_]+$/;

/**
 * Tells whether a path segment matches a route segment. Fastify's router
 * matches a parameter to an empty segment too, so `/items/` matches `/items/:id`.
 */
function segmentMatches(pattern: string, segment: string): boolean {
  return PARAMETER_SEGMENT.test(pattern) || pattern === segment;
}

function routeMatches(route: ServedRoute, path: string): boolean {
  if (route.segments === undefined) {
    return path.startsWith(route.prefix);
  }
  const segments = path.split('/');
  return segments.length === route.segments.length && route.segments.every((pattern, index) => segmentMatches(pattern, segments[index] ?? ''));
}

/**
 * The methods of every route of an app, by path, for the 405 response
 * (RFC 9110 section 15.5.6) to a request whose path is served with other
 * methods. Fastify's router sends such a request to the not-found handler,
 * as it does for a path that nothing serves.
 *
 * NOTE: a path segment that mixes text and parameters, such as
 * `/files/:name.json`, matches only its own text. Only the gateway declares
 * such routes, and its own not-found handler serves its paths.
 */
export class ServedMethods {
  readonly #routes = new Map<string, ServedRoute>();

  /** Records a route as Fastify passes it to an `onRoute` hook. */
  add(route: Pick<RouteOptions, 'url' | 'method' | 'config'>): void {
    let served = this.#routes.get(route.url);
    if (served === undefined) {
      const wildcard = route.url.endsWith('*');
      served = {
        segments: wildcard ? undefined : route.url.split('/'),
        prefix: wildcard ? route.url.slice(0, -1) : route.url,
        methods: new Set(),
        lookup: route.config?.allowedMethods,
      };
      this.#routes.set(route.url, served);
    }

    for (const method of Array.isArray(route.method) ? route.method : [route.method]) {
      served.methods.add(method);
      // Fastify serves HEAD wherever it serves GET.
      if (method === 'GET') {
        served.methods.add('HEAD');
      }
    }
  }

  /** Returns the methods served on `path` in alphabetical order, or undefined when no route matches it. */
  allowed(path: string): string[] | undefined {
    const methods = new Set<string>();
    for (const route of this.#routes.values()) {
      if (!routeMatches(route, path)) {
        continue;
      }
      const served = route.lookup === undefined ? route.methods : (route.lookup(path) ?? []);
      for (const method of served) {
        methods.add(method);
      }
    }
    return methods.size === 0 ? undefined : [...methods].sort();
  }
}

/** Records the methods of every route that `app` and its plugins register from now on. */
export function trackServedMethods(app: FastifyInstance): ServedMethods {
  const served = new ServedMethods();
  app.addHook('onRoute', (route) => served.add(route));
  return served;
}
