/**
 * A backend (PostgreSQL or Redis) that could not be reached at start.
 *
 * The message names the backend, its address without credentials and the
 * driver's error, so an operator can tell which of several backends failed.
 */
export class BackendUnavailableError extends Error {
  readonly backend: string;
  readonly location: string;

  constructor(backend: string, location: string, cause: unknown) {
    const reason = cause instanceof Error ? describeError(cause) : String(cause);
    super(`${backend} at ${location} is unreachable: ${reason}`, { cause });
    this.name = 'BackendUnavailableError';
    this.backend = backend;
    this.location = location;
  }
}

/** Builds a one-line description of a driver error, including every error of an AggregateError. */
function describeError(error: Error): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return error.errors.map((inner: unknown) => (inner instanceof Error ? inner.message : String(inner))).join('; ');
  }
  return error.message === '' ? error.name : error.message;
}

const REDACTED_VALUE = '***';

/**
 * Returns `url` with its password and the value of every query parameter
 * replaced by `***`, for logs and error messages.
 *
 * node-postgres and ioredis both read `?password=`, and an upstream may
 * take an API key in its query under any name, so no query value is
 * printed: a list of secret-looking names would miss the next one. The
 * parameter names stay, so an operator can still see which options a URL
 * sets.
 */
export function redactUrl(url: string): string {
  const parsed = URL.parse(url);
  // An unencoded '/' in a password ends the authority early, so the
  // password and the real host land in the path: mask up to the last '@'.
  if (parsed === null || parsed.pathname.includes('@')) {
    return redactUnparsedUrl(url);
  }
  if (parsed.password !== '') {
    parsed.password = REDACTED_VALUE;
  }
  parsed.search = redactQuery(parsed.search.slice(1));
  return parsed.href;
}

/** Masks a URL that the WHATWG parser rejects, with the same rules as a parsed one. */
function redactUnparsedUrl(url: string): string {
  const withoutPassword = url.replace(/\/\/[^?#]*@/, `//${REDACTED_VALUE}@`);
  const queryStart = withoutPassword.indexOf('?');
  if (queryStart === -1) {
    return withoutPassword;
  }
  const fragmentStart = withoutPassword.indexOf('#', queryStart);
  const queryEnd = fragmentStart === -1 ? withoutPassword.length : fragmentStart;
  const query = withoutPassword.slice(queryStart + 1, queryEnd);
  return `${withoutPassword.slice(0, queryStart)}?${redactQuery(query)}${withoutPassword.slice(queryEnd)}`;
}

/**
 * Replaces the value of each `name=value` pair of a query string. A pair
 * without `=` is replaced whole, because a token pasted as `?<token>` is all
 * name.
 */
function redactQuery(query: string): string {
  if (query === '') {
    return '';
  }
  return query
    .split('&')
    .map((pair) => {
      const separator = pair.indexOf('=');
      return separator === -1 ? REDACTED_VALUE : `${pair.slice(0, separator)}=${REDACTED_VALUE}`;
    })
    .join('&');
}
