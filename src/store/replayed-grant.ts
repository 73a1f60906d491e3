import { errors } from 'oidc-provider';

/** The property of a replay error that names the grant the adapter revoked. */
const REVOKED_GRANT = Symbol('revokedGrant');

/**
 * Builds the error of a code or refresh token that was consumed before.
 * `revokedGrantId` names the grant the adapter revoked because of it.
 * oidc-provider's own replay check revokes through its `revoke` helper,
 * which emits `grant.revoked`. A replay that only the adapter catches, in
 * a race between two requests, revokes the grant without that event, so
 * the error carries the grant for {@link revokedGrantOf}.
 */
export function replayedGrantError(revokedGrantId?: string): InstanceType<typeof errors.InvalidGrant> {
  const error = new errors.InvalidGrant('grant already used');
  if (revokedGrantId !== undefined) {
    Object.defineProperty(error, REVOKED_GRANT, { value: revokedGrantId });
  }
  return error;
}

/** Returns the grant that the adapter revoked before throwing `error`, or undefined for any other error. */
export function revokedGrantOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !(REVOKED_GRANT in error)) {
    return undefined;
  }
  const grantId = (error as { [REVOKED_GRANT]: unknown })[REVOKED_GRANT];
  return typeof grantId === 'string' ? grantId : undefined;
}
