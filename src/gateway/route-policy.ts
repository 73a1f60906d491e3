/**
 * Declared operations of the upstream and what each one requires.
 *
 * The gateway forwards only these operations; any other method or path gets
 * 404 from the gateway and never reaches the upstream.
 */

import type { CredentialKind } from '../core/identity-headers.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RoutePolicy {
  method: HttpMethod;
  /** Path template relative to the mount path, in Fastify syntax (`/orders/:id`). */
  path: string;
  /** Scopes that the access token must all carry. */
  scopes: readonly string[];
  /** Roles that the account must all have. */
  roles: readonly string[];
  /** Credential kinds accepted on this operation. */
  credentials: readonly CredentialKind[];
}

/** The operations of the demo Orders API. */
export const DEMO_ROUTES: readonly RoutePolicy[] = [
  { method: 'GET', path: '/orders', scopes: ['orders:read'], roles: [], credentials: ['jwt', 'api_key'] },
  { method: 'POST', path: '/orders', scopes: ['orders:write'], roles: [], credentials: ['jwt', 'api_key'] },
  { method: 'GET', path: '/orders/:id', scopes: ['orders:read'], roles: [], credentials: ['jwt', 'api_key'] },
  { method: 'DELETE', path: '/orders/:id', scopes: ['orders:write'], roles: [], credentials: ['jwt', 'api_key'] },
  { method: 'GET', path: '/admin/orders', scopes: ['admin'], roles: ['admin'], credentials: ['jwt'] },
];

/** Returns the scopes and roles in `policy` that the caller lacks. */
export function missingRequirements(
  policy: RoutePolicy,
  scopes: readonly string[],
  roles: readonly string[],
): { scopes: string[]; roles: string[] } {
  return {
    scopes: policy.scopes.filter((scope) => !scopes.includes(scope)),
    roles: policy.roles.filter((role) => !roles.includes(role)),
  };
}
