import { bearerChallenge } from '../core/bearer.js';
import type { CredentialKind, Identity } from '../core/identity-headers.js';
import { ProblemError } from '../core/problem.js';
import { REALM } from './authenticate.js';
import { missingRequirements, type RoutePolicy } from './route-policy.js';

/** Names of the credential kinds in messages to the caller. */
const CREDENTIAL_NAMES: Record<CredentialKind, string> = { jwt: 'access token', api_key: 'API key' };

/**
 * Checks the caller against the operation's required scopes and roles
 * (function-level authorization); throws a 403 problem naming what is missing.
 */
export function authorize(identity: Identity, policy: Pick<RoutePolicy, 'scopes' | 'roles'>): void {
  const missing = missingRequirements(policy, identity.scopes, identity.roles);

  if (missing.scopes.length > 0) {
    const detail = `The ${CREDENTIAL_NAMES[identity.credential]} lacks the scope required by this operation: ${missing.scopes.join(' ')}.`;
    const challenge = bearerChallenge({ realm: REALM, error: 'insufficient_scope', description: detail, scope: policy.scopes });
    throw new ProblemError('insufficient_scope', detail, { headers: { 'www-authenticate': challenge } });
  }

  if (missing.roles.length > 0) {
    throw new ProblemError('forbidden', `This operation requires the role: ${missing.roles.join(', ')}.`);
  }
}
