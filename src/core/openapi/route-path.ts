/**
 * Conversion of OpenAPI path templates (`/orders/{id}:cancel`) into the
 * route syntax of find-my-way 9, the router of Fastify 5, and back into
 * the path sent upstream.
 *
 * find-my-way gives meaning to characters that are plain text in an
 * OpenAPI path: `:` starts a parameter, `*` is a wildcard, and a parameter
 * name runs until `-`, `.`, `(` or `/`, so `:id:cancel` would be one
 * parameter named `id:cancel`. It also decodes the request path before it
 * matches it, except for the reserved characters below. This module
 * escapes what the router can express and rejects the rest, so each route
 * matches exactly the requests its template describes.
 */

/** A template the router cannot match faithfully; the message names the path and the reason. */
export class RoutePathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RoutePathError';
  }
}

/** A piece of a path template: literal text, or the name of a path parameter. */
export type RoutePart = { literal: string } | { parameter: string };

/** A path template compiled for the router and for building the upstream path. */
export interface RoutePath {
  /** The template in OpenAPI syntax (`/orders/{id}:cancel`). */
  template: string;
  /** The template in find-my-way syntax, as Fastify registers it. */
  router: string;
  /** The names of the path parameters, in order. */
  parameters: readonly string[];
  /** The literal text, as written in the template, and the parameters between them. */
  parts: readonly RoutePart[];
  /** The decoded template with every parameter name blanked (`/orders/{}`), equal for templates that match the same requests. */
  shape: string;
}

/** Names the gateway accepts for path parameters; find-my-way ends a name at `-`, `.` and `(`. */
const PARAMETER_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Characters of RFC 3986 `pchar` other than percent-encodings, plus the segment separator `/`. */
const LITERAL_TEXT = /^(?:[A-Za-z0-9\-._~!$&'()+,;=:@/]|%[0-9A-Fa-f]{2})*$/;

/**
 * Percent-encoded characters that find-my-way leaves encoded when it decodes
 * the request path (`# $ % & + , / : ; = ? @`). A route cannot contain them,
 * because find-my-way registers a literal `%` as `%25`.
 */
const KEPT_ENCODED = /%(?:2[3-6BbCcFf]|3[AaBbDdFf]|40)/;

/** The value of a parameter that shares its segment with other text, matched lazily by the router. */
const SEGMENT_PART_PATTERN = '(.+?)';

function checkLiteral(template: string, literal: string): string {
  if (literal.includes('*')) {
    throw new RoutePathError(`path '${template}' contains '*', which the router reads as a wildcard even when percent-encoded. Rename the path`);
  }
  if (literal.includes('{') || literal.includes('}')) {
    throw new RoutePathError(`path '${template}' has an unmatched brace or a parameter name other than letters, digits and '_'`);
  }
  if (!LITERAL_TEXT.test(literal)) {
    throw new RoutePathError(`path '${template}' contains a character that is not allowed in a URL path. Percent-encode it`);
  }

  const reserved = KEPT_ENCODED.exec(literal);
  if (reserved !== null) {
    throw new RoutePathError(`path '${template}' contains the percent-encoded reserved character ${reserved[0]}, which the router cannot match`);
  }

  let decoded: string;
  try {
    decoded = decodeURI(literal);
  } catch {
    throw new RoutePathError(`path '${template}' contains a percent-encoding that is not valid UTF-8`);
  }
  if (decoded.includes('*')) {
    throw new RoutePathError(`path '${template}' contains '*', which the router reads as a wildcard even when percent-encoded. Rename the path`);
  }
  return decoded;
}

/** Returns `text` in find-my-way syntax, where `::` is a literal colon. */
function escapeForRouter(text: string): string {
  return text.replaceAll(':', '::');
}

function splitTemplate(template: string): RoutePart[] {
  const parts: RoutePart[] = [];
  const expression = /\{([^{}]*)\}/g;
  let end = 0;
  for (const match of template.matchAll(expression)) {
    const name = match[1] as string;
    if (!PARAMETER_NAME.test(name)) {
      throw new RoutePathError(`path '${template}' has the invalid parameter name '{${name}}'. Use letters, digits and '_', not starting with a digit`);
    }
    if (match.index > end) {
      parts.push({ literal: template.slice(end, match.index) });
    } else if (parts.length > 0) {
      throw new RoutePathError(`path '${template}' has two parameters with no text between them, so the router cannot split their values. Put a literal character between them`);
    }
    parts.push({ parameter: name });
    end = match.index + match[0].length;
  }
  if (end < template.length) {
    parts.push({ literal: template.slice(end) });
  }
  return parts;
}

/** Returns whether the parameter at `index` shares its path segment with other text. */
function sharesSegment(parts: readonly RoutePart[], index: number): boolean {
  const before = parts[index - 1];
  const after = parts[index + 1];
  return (before !== undefined && 'literal' in before && !before.literal.endsWith('/')) || (after !== undefined && 'literal' in after && !after.literal.startsWith('/'));
}

/**
 * Compiles an OpenAPI path template. A parameter that fills its segment
 * becomes `:name`. A parameter that shares its segment with text
 * (`{name}.json`, `{id}:cancel`, `{year}-{month}`) becomes `:name(.+?)`,
 * so the text after it stays literal. Between two such parameters the
 * first takes the shortest value, so `2024-05-01` splits into
 * `2024` and `05-01` for `{year}-{month}`.
 *
 * Throws RoutePathError for a template the router cannot match exactly.
 * Such a template has `*`, an encoded reserved character, a character not
 * allowed in a path, or a `.` or `..` segment. It may also have a parameter
 * name other than letters, digits and `_`, a repeated parameter, or two
 * parameters with no text between them.
 */
export function parseRoutePath(template: string): RoutePath {
  if (!template.startsWith('/')) {
    throw new RoutePathError(`path '${template}' must start with '/'`);
  }

  const parts = splitTemplate(template);
  const parameters: string[] = [];
  let router = '';
  let shape = '';

  for (const [index, part] of parts.entries()) {
    if ('literal' in part) {
      const decoded = checkLiteral(template, part.literal);
      router += escapeForRouter(decoded);
      shape += decoded;
      continue;
    }

    if (parameters.includes(part.parameter)) {
      throw new RoutePathError(`path '${template}' names the parameter '${part.parameter}' twice`);
    }
    parameters.push(part.parameter);
    router += `:${part.parameter}${sharesSegment(parts, index) ? SEGMENT_PART_PATTERN : ''}`;
    shape += '{}';
  }

  if (shape.split('/').some((segment) => segment === '.' || segment === '..')) {
    throw new RoutePathError(`path '${template}' has a '.' or '..' segment, which clients and the upstream may resolve away`);
  }
  return { template, router, parameters, parts, shape };
}

/** Returns a path in Fastify syntax (`/orders/:id`) in OpenAPI syntax (`/orders/{id}`). */
export function fromRouterSyntax(path: string): string {
  return path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
}

/**
 * Throws RoutePathError when two templates differ only in the names of
 * their parameters (`/a/{id}` and `/a/{name}`), which OpenAPI forbids
 * because a request could not tell which one it means.
 */
export function checkDistinctPaths(paths: readonly RoutePath[]): void {
  const seen = new Map<string, string>();
  for (const path of paths) {
    const other = seen.get(path.shape);
    if (other !== undefined && other !== path.template) {
      throw new RoutePathError(`paths '${other}' and '${path.template}' differ only in parameter names and match the same requests. Merge them into one path`);
    }
    seen.set(path.shape, path.template);
  }
}

/**
 * Builds the upstream path from the template and the decoded path
 * parameters, re-encoding each one. An encoded slash or dot segment in a
 * parameter then cannot make the upstream resolve a different route than
 * the one the gateway authorized. Literal text goes upstream as the
 * template writes it.
 *
 * Returns undefined when a parameter is empty or cannot be part of a
 * single path segment.
 */
export function buildUpstreamPath(route: RoutePath, params: Record<string, string>): string | undefined {
  if (route.parameters.length === 0) {
    return route.template;
  }

  let path = '';
  for (const part of route.parts) {
    if ('literal' in part) {
      path += part.literal;
      continue;
    }

    const value = params[part.parameter] ?? '';
    if (value === '' || value === '.' || value === '..' || /[/\\\u0000-\u001f\u007f]/.test(value)) {
      return undefined;
    }
    path += encodeURIComponent(value);
  }
  return path;
}
