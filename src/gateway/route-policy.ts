/**
 * Declared operations of the upstream and what each one requires.
 *
 * The gateway forwards only these operations; any other method or path gets
 * 404 from the gateway and never reaches the upstream.
 */

import type { CredentialKind } from '../core/identity-headers.js';
import type { RequestParts, RequestViolation } from '../core/openapi/operations.js';
import type { ResponseRules } from '../core/openapi/response-schema.js';
import type { RoutePath } from '../core/openapi/route-path.js';
import type { Lifecycle } from './lifecycle.js';
import type { ObjectBinding } from './object-binding.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RoutePolicy {
  method: HttpMethod;
  /** Path template relative to the mount path, in Fastify syntax (`/orders/:id`). */
  path: string;
  /** The path template in OpenAPI syntax, compiled for the router and the upstream path. */
  route: RoutePath;
  /** Scopes that the access token must all carry. */
  scopes: readonly string[];
  /** Roles that the account must all have. */
  roles: readonly string[];
  /** Credential kinds accepted on this operation. */
  credentials: readonly CredentialKind[];
  /** Served without authentication; the upstream gets no identity headers. */
  public: boolean;
  /** Object-level rules on path and query parameters, checked before validation. */
  bindings: readonly ObjectBinding[];
  /** Object-level rules on members of the JSON request body, checked after validation. */
  bodyBindings: readonly ObjectBinding[];
  /** Deprecation and sunset dates. */
  lifecycle: Lifecycle;
  /** Names of the operation's declared header parameters, lower-cased and with punctuation spelled as `-` (see normalizedHeaderName). */
  headerParameters: ReadonlySet<string>;
  /** Checks the request against the operation's declared parameters and body, when the upstream publishes them. */
  validate?: (parts: RequestParts) => RequestViolation | undefined;
  /** The declared responses, checked and filtered before they reach the caller, when the upstream publishes them. */
  responses?: ResponseRules;
}

/** Returns the scopes and roles in `policy` that the caller lacks. */
export function missingRequirements(
  policy: Pick<RoutePolicy, 'scopes' | 'roles'>,
  scopes: readonly string[],
  roles: readonly string[],
): { scopes: string[]; roles: string[] } {
  return {
    scopes: policy.scopes.filter((scope) => !scopes.includes(scope)),
    roles: policy.roles.filter((role) => !roles.includes(role)),
  };
}
