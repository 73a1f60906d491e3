import type { Grant } from 'oidc-provider';

import { partitionByRole, requestedApiScopes } from '../core/scopes.js';

/**
 * Returns, by resource indicator, the requested API scopes that `grant`
 * rejected at an earlier consent and that an account with `roles` may now
 * get. Consent rejects a scope only when the account lacks its role, and
 * oidc-provider 9 never prompts for a rejected scope again, so without this
 * an account that gains the role gets no such scope for the grant's life.
 */
export function scopesToRegrant(grant: Pick<Grant, 'rejected'>, scope: unknown, roles: readonly string[]): Map<string, string[]> {
  const requested = requestedApiScopes(scope);
  const regranted = new Map<string, string[]>();

  for (const [indicator, rejectedScope] of Object.entries(grant.rejected?.resources ?? {})) {
    const rejected = new Set(rejectedScope.split(' '));
    const { allowed } = partitionByRole(
      requested.filter((name) => rejected.has(name)),
      roles,
    );
    if (allowed.length > 0) {
      regranted.set(indicator, allowed);
    }
  }
  return regranted;
}

/**
 * Grants `scopes` of the resource `indicator` and takes back their earlier
 * rejection. oidc-provider 9 leaves a rejected scope out of every token of
 * the grant even once it is added, and offers no method to withdraw a
 * rejection, so this edits the grant's `rejected` record.
 */
export function regrantResourceScopes(grant: Grant, indicator: string, scopes: readonly string[]): void {
  const rejectedResources = grant.rejected?.resources;
  const rejectedScope = rejectedResources?.[indicator];
  if (rejectedResources !== undefined && rejectedScope !== undefined) {
    const remaining = rejectedScope.split(' ').filter((name) => !scopes.includes(name));
    if (remaining.length > 0) {
      rejectedResources[indicator] = remaining.join(' ');
    } else {
      delete rejectedResources[indicator];
    }
  }

  grant.addResourceScope(indicator, scopes.join(' '));
}
