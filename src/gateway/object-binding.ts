/**
 * Object-level authorization that the gateway can decide from the request
 * alone: a path or query parameter, or a member of a JSON request body, must
 * match a claim of the caller, as in "`userId` must equal `sub`" or
 * "`/account/tenantId` must be one of `tenants`".
 *
 * A rejected request gets 404, the same response as a resource that does
 * not exist, so that a caller cannot learn which other users or tenants exist.
 * The demo Orders API returns 404 for another owner's order for the same
 * reason.
 */

import type { ObjectBinding } from '../config/schema.js';
import type { Identity } from '../core/identity-headers.js';
import { foldCase, isVariantName } from '../core/openapi/parameter-names.js';
import { ProblemError } from '../core/problem.js';

export type { ObjectBinding };

/** The request parameters that bindings read, as Fastify parsed them. */
export interface BoundParameters {
  params: Readonly<Record<string, string>>;
  query: Readonly<Record<string, unknown>>;
  /** The parsed JSON request body, for `body` bindings. Undefined when the request has none. */
  body?: unknown;
  /** Names of the top-level members of the request body (see bodyMemberNames). */
  bodyNames?: readonly string[];
}

/** A canonical array index in a JSON Pointer (RFC 6901 section 4). */
const ARRAY_INDEX = /^(0|[1-9][0-9]*)$/;

/** Returns the reference tokens of a JSON Pointer (`/a~1b/c` gives `a/b` and `c`). */
export function pointerTokens(pointer: string): string[] {
  return pointer
    .slice(1)
    .split('/')
    .map((token) => token.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/**
 * Returns the values at `pointer` in the JSON body: the member's value, or
 * each element when it is an array, so that every element must match. A
 * missing member gives none. An object on the way that also has the member
 * in another case gives undefined, which fails the binding. Some upstreams
 * read JSON members without regard to case (ASP.NET Core's web defaults),
 * so `FromAccount` could carry a value that the binding never checked.
 */
function bodyValues(pointer: string, body: unknown): unknown[] | undefined {
  let current = body;
  for (const token of pointerTokens(pointer)) {
    if (Array.isArray(current)) {
      current = ARRAY_INDEX.test(token) ? current[Number(token)] : undefined;
    } else if (current !== null && typeof current === 'object') {
      const members = current as Record<string, unknown>;
      if (hasCaseVariant(members, token)) {
        return undefined;
      }
      current = Object.hasOwn(members, token) ? members[token] : undefined;
    } else {
      return [];
    }
  }

  if (current === undefined) {
    return [];
  }
  return Array.isArray(current) ? current : [current];
}

/** Tells whether `members` has a name other than `name` that equals it without regard to case (see foldCase). */
function hasCaseVariant(members: Record<string, unknown>, name: string): boolean {
  const folded = foldCase(name);
  return Object.keys(members).some((member) => member !== name && foldCase(member) === folded);
}

/** Returns the value of `claim` for the caller; `sub` is the subject for every credential kind. */
function claimOf(identity: Identity, claim: string): unknown {
  return claim === 'sub' ? identity.subject : identity.claims?.[claim];
}

/**
 * Returns the values of the parameter. A repeated query parameter gives
 * several values, and every one of them must match, because upstreams differ
 * in which one they read.
 */
function parameterValues(binding: ObjectBinding, parameters: BoundParameters): unknown[] | undefined {
  if (binding.in === 'body') {
    return bodyValues(binding.name, parameters.body);
  }

  const value = binding.in === 'path' ? parameters.params[binding.name] : parameters.query[binding.name];
  if (value === undefined) {
    return [];
  }

  return Array.isArray(value) ? value : [value];
}

/**
 * Compares one value with the claim. A JSON body may carry an id as an
 * integer, which is compared in its decimal form. Any other number, object,
 * boolean or null fails.
 */
function valueMatches(binding: ObjectBinding, value: unknown, claim: unknown): boolean {
  const text = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value;
  if (typeof text !== 'string' || text === '') {
    return false;
  }

  return binding.match === 'equals' ? claim === text : Array.isArray(claim) && claim.includes(text);
}

/**
 * Tells whether the query names the bound parameter in another spelling.
 * Some upstreams read `TenantId`, `tenantId[]`, `tenantId[0]` or, with qs's
 * `allowDots`, `tenantId.x` as `tenantId`, PHP reads `tenant.id` as
 * `tenant_id`, and some merge query parameters into path parameters, so
 * such a spelling could carry a value that the binding never checked.
 */
function hasQueryVariant(binding: ObjectBinding, query: Readonly<Record<string, unknown>>): boolean {
  // Rails merges query and body parameters into one tree, so a body
  // binding also fails on a query parameter named like its first member.
  const bound = foldCase(binding.in === 'body' ? (pointerTokens(binding.name)[0] ?? '') : binding.name);
  const names = Object.keys(query).filter((name) => binding.in !== 'query' || name !== binding.name);
  if (binding.in === 'body' && names.some((name) => nestsMember(foldCase(name), bound))) {
    return true;
  }
  return names.some((name) => isVariantName(name, bound));
}

/**
 * Tells whether a member of the body, named in `bodyNames`, spells the
 * bound name (see isVariantName). A body member so named fails every
 * binding, because Laravel and ASP.NET Core read a body field before a
 * route parameter, and Laravel before a query parameter too.
 */
function hasBodyVariant(binding: ObjectBinding, bodyNames: readonly string[]): boolean {
  if (bodyNames.length === 0) {
    return false;
  }

  const bound = foldCase(binding.name);
  return bodyNames.some((name) => isVariantName(name, bound));
}

/**
 * Tells whether the query name `name` has `member` as a nested key after
 * its first, as in `transfer[source]` or `transfer.source`, both as foldCase
 * spells them. Rails wraps the members of a JSON body in a parameter named
 * after the controller, unless the request already has a parameter of that
 * name, so `params.require(:transfer)` would read `transfer[source]` from
 * the query instead of `source` from the body.
 */
function nestsMember(name: string, member: string): boolean {
  return name.split(/[[\].]+/).slice(1).includes(member);
}

/**
 * Tells whether the request satisfies one binding. A missing parameter,
 * body member or claim fails it: an upstream given no `tenantId` might fall
 * back to a tenant the caller does not belong to. So does another spelling
 * of the parameter's name in the query string, and any spelling of it among
 * the body's members.
 */
export function satisfiesBinding(binding: ObjectBinding, parameters: BoundParameters, identity: Identity): boolean {
  if (binding.bypassRoles.some((role) => identity.roles.includes(role))) {
    return true;
  }
  if (hasQueryVariant(binding, parameters.query) || hasBodyVariant(binding, parameters.bodyNames ?? [])) {
    return false;
  }

  const values = parameterValues(binding, parameters);
  const claim = claimOf(identity, binding.claim);

  return values !== undefined && values.length > 0 && values.every((value) => valueMatches(binding, value, claim));
}

/**
 * Throws a 404 problem unless the request satisfies every binding of its
 * operation, after passing the first failed binding and the problem's
 * detail to `onReject`.
 */
export function enforceBindings(
  bindings: readonly ObjectBinding[],
  parameters: BoundParameters,
  identity: Identity,
  onReject: (binding: ObjectBinding, detail: string) => void = () => undefined,
): void {
  const failed = bindings.find((binding) => !satisfiesBinding(binding, parameters, identity));
  if (failed !== undefined) {
    const detail = failed.in === 'body' ? 'No resource matches the request body.' : `No resource matches the ${failed.in} parameter.`;
    onReject(failed, detail);
    throw new ProblemError('not_found', detail);
  }
}
