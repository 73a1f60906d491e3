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

/** The text a Rails route accepts after a path as its format (`.json`), which its `(.:format)` segment reads. */
const FORMAT_SUFFIX = '(?:\\.[^/.]+)?';

/** The pattern of a parameter's decoded value, which buildUpstreamPath keeps within one segment. */
const SEGMENT_VALUE = '[^/]+';

function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
}

/** Returns the decoded template with the decoded parameter values in place. */
function decodedPath(route: RoutePath, values: Readonly<Record<string, string>>): string {
  return route.parts.map((part) => ('literal' in part ? decodeURI(part.literal) : (values[part.parameter] ?? ''))).join('');
}

function pathPattern(route: RoutePath, loose: boolean): RegExp {
  const body = route.parts.map((part) => ('literal' in part ? escapeRegExp(decodeURI(part.literal)) : SEGMENT_VALUE)).join('');
  return loose ? new RegExp(`^${body}${FORMAT_SUFFIX}$`, 'iu') : new RegExp(`^${body}$`, 'u');
}

/**
 * Tells whether a path that `route` matches may also match `other` on an
 * upstream that compares paths without case or reads a format suffix:
 * each segment that is literal text in both must be equal that way.
 */
function mayOverlap(route: RoutePath, other: RoutePath): boolean {
  const segments = route.shape.split('/');
  const otherSegments = other.shape.split('/');
  if (segments.length !== otherSegments.length) {
    return false;
  }

  return segments.every((segment, index) => {
    const otherSegment = otherSegments[index] as string;
    if (segment.includes('{}') || otherSegment.includes('{}')) {
      return true;
    }
    const suffix = index === segments.length - 1 ? FORMAT_SUFFIX : '';
    return new RegExp(`^${escapeRegExp(otherSegment)}${suffix}$`, 'iu').test(segment);
  });
}

/**
 * Builds a check that returns true when a request the router matched to
 * `route` would match another of `siblings` on a more lenient upstream
 * router. Express and ASP.NET Core compare paths without regard to case, and Rails
 * reads a `.json` suffix as the response format. So `/reports/EXPORT` or
 * `/reports/export.json`, which the gateway authorized as
 * `/reports/{id}`, could reach the handler of `/reports/export` with
 * other scopes. The check compares the decoded path with Unicode case
 * folding and rejects it when it matches a sibling only that way.
 *
 * Returns undefined when no sibling can be confused with `route`, which
 * is true of most templates, so that their requests pay nothing.
 */
export function siblingPathCheck(
  route: RoutePath,
  siblings: readonly RoutePath[],
): ((values: Readonly<Record<string, string>>) => boolean) | undefined {
  if (route.parameters.length === 0) {
    return undefined;
  }

  const candidates = siblings.filter((sibling) => sibling !== route && mayOverlap(route, sibling));
  if (candidates.length === 0) {
    return undefined;
  }

  const patterns = candidates.map((sibling) => ({ loose: pathPattern(sibling, true), exact: pathPattern(sibling, false) }));
  return (values) => {
    const path = decodedPath(route, values);
    // Unicode case folding keeps the dotless i apart from i, but its
    // uppercase is I, which routers that compare uppercase text match.
    const folded = path.replaceAll('\u0131', 'i');
    return patterns.some(({ loose, exact }) => loose.test(folded) && !exact.test(path));
  };
}

/** Tells whether `other` has literal text in a segment where `route` has a parameter, which upstream routers prefer. */
function hasLiteralWhereParameter(route: RoutePath, other: RoutePath): boolean {
  const otherSegments = other.shape.split('/');
  return route.shape.split('/').some((segment, index) => segment.includes('{}') && !(otherSegments[index] ?? '{}').includes('{}'));
}

/**
 * Builds a check that returns true when a request the router matched to
 * `route` names an operation of another upstream on the same service.
 * `foreign` contains those operations, with their paths relative to the base
 * path of `route`'s upstream. With `/orders/{id}` under one mount path and
 * an admin-only `/orders/export` under another, `GET /orders/export`
 * through the first would reach the export handler with the first's
 * scopes, since routers prefer literal segments. So a path that matches
 * such an operation, exactly or in the lenient ways of siblingPathCheck,
 * is rejected where the operation has literal text in place of one of
 * `route`'s parameters.
 *
 * Returns undefined when no foreign operation can be confused with `route`.
 */
export function foreignPathCheck(route: RoutePath, foreign: readonly RoutePath[]): ((values: Readonly<Record<string, string>>) => boolean) | undefined {
  if (route.parameters.length === 0) {
    return undefined;
  }

  const candidates = foreign.filter((other) => mayOverlap(route, other) && hasLiteralWhereParameter(route, other));
  if (candidates.length === 0) {
    return undefined;
  }

  const patterns = candidates.map((other) => pathPattern(other, true));
  return (values) => {
    const folded = decodedPath(route, values).replaceAll('\u0131', 'i');
    return patterns.some((pattern) => pattern.test(folded));
  };
}

