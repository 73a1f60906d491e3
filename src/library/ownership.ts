import type { Identity } from '../core/identity-headers.js';
import { ProblemError } from '../core/problem.js';

/** The outcome of an ownership check: the resource when the caller owns it, otherwise only `not_found`. */
export type OwnershipResult<T> = { outcome: 'owned'; resource: T } | { outcome: 'not_found' };

/** Loads a resource by id; returns undefined when none exists. */
export type ResourceLoader<T> = () => T | undefined | Promise<T | undefined>;

/**
 * Loads a resource and checks that `caller` owns it (object-level
 * authorization, OWASP API1:2023). A resource owned by someone else gives
 * the same `not_found` as a missing one, so callers cannot probe which ids
 * exist.
 */
export async function checkOwnership<T>(caller: Identity, load: ResourceLoader<T>, ownerOf: (resource: T) => string): Promise<OwnershipResult<T>> {
  const resource = await load();
  if (resource === undefined || ownerOf(resource) !== caller.subject) {
    return { outcome: 'not_found' };
  }

  return { outcome: 'owned', resource };
}

export interface RequireOwnedOptions {
  /** Noun for the resource in the 404 detail, for example `order`. Default `resource`. */
  resourceName?: string;
  /** The requested id, repeated in the 404 detail. */
  id?: string;
}

/**
 * Returns the resource when `caller` owns it, and otherwise throws a 404
 * problem whose detail is the same for missing and foreign resources.
 */
export async function requireOwned<T>(
  caller: Identity,
  load: ResourceLoader<T>,
  ownerOf: (resource: T) => string,
  options: RequireOwnedOptions = {},
): Promise<T> {
  const result = await checkOwnership(caller, load, ownerOf);
  if (result.outcome === 'owned') {
    return result.resource;
  }

  const name = options.resourceName ?? 'resource';
  const detail = options.id === undefined ? `No such ${name} exists.` : `No ${name} with id '${options.id}' exists.`;
  throw new ProblemError('not_found', detail);
}
