/**
 * Values that are ready at once on the common path and arrive later on the
 * rare one. A cache hit or an in-process counter returns its result at
 * once, and a database read or a signature check returns a promise.
 *
 * The request path passes such values on without wrapping them in promises.
 * A promise costs more than many of the checks that would create one, and
 * while oidc-provider serves a request, Node.js 20 also runs an
 * AsyncLocalStorage hook for every promise in the process.
 */

/** A value now, or a promise of it. */
export type Pending<T> = T | Promise<T>;

/**
 * Tells whether `value` is still to come. Any thenable counts, not only a
 * native promise: a check supplied by a library user may return a promise
 * of another library or realm, and taking it for a ready value would treat
 * a pending "revoked" as a truthy object.
 */
export function isPromise<T>(value: Pending<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}

/** Applies `next` to `value` now when it is ready, and once it settles otherwise. */
export function andThen<T, R>(value: Pending<T>, next: (value: T) => Pending<R>): Pending<R> {
  return isPromise(value) ? Promise.resolve(value).then(next) : next(value);
}
