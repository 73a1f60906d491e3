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

/** Returns `url` with its password, if any, replaced by `***`, for logs and error messages. */
export function redactUrl(url: string): string {
  const parsed = URL.parse(url);
  if (parsed === null) {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
  if (parsed.password !== '') {
    parsed.password = '***';
  }
  return parsed.href;
}
