import type { ApiKeyLookupCacheOptions } from '../api-keys/lookup-cache.js';
import type { PortcullisConfig } from '../config/schema.js';
import { AccessTokenVerifier } from '../core/access-token-verifier.js';
import { ActivityCache, type ActivityCheck } from '../core/cache/activity-cache.js';
import { CachingTokenVerifier, type TokenVerifier } from '../core/cache/token-cache.js';
import type { KeyRing } from '../keys/key-ring.js';
import { SIGNING_ALGORITHM } from '../keys/signing-keys.js';

/**
 * How long a grant, client or API key check is reused while the token cache is on, in
 * milliseconds. It is the maximum delay before a revocation by the CLI reaches the gateway.
 */
export const REVOCATION_CHECK_TTL_MS = 1000;

/** The gateway's checks of every access token, and the hook for revocations made in this process. */
export interface CredentialChecks {
  verifier: TokenVerifier;
  isGrantActive: ActivityCheck;
  isClientActive: ActivityCheck;
  /** Makes a grant revoked by this process's authorization server fail its next check. */
  grantRevoked(grantId: string): void;
}

/** Builds the gateway's token verifier and revocation checks, behind caches unless the configuration turns them off. */
export function createCredentialChecks(
  config: Readonly<PortcullisConfig>,
  keyRing: KeyRing,
  activity: { isGrantActive: ActivityCheck; isClientActive: ActivityCheck },
): CredentialChecks {
  const verifier = new AccessTokenVerifier({
    issuer: config.issuer,
    audience: config.audience,
    algorithms: [SIGNING_ALGORITHM],
    clockToleranceSeconds: config.gateway.clockToleranceSeconds,
    maxLifetimeSeconds: config.tokens.accessToken + config.gateway.clockToleranceSeconds,
    jwks: () => keyRing.publicJwks,
  });

  const { enabled, maxEntries } = config.gateway.tokenCache;
  if (!enabled) {
    return { verifier, ...activity, grantRevoked: () => undefined };
  }

  const cacheOptions = { ttlMs: REVOCATION_CHECK_TTL_MS, maxEntries };
  const grants = new ActivityCache(activity.isGrantActive, cacheOptions);
  const clients = new ActivityCache(activity.isClientActive, cacheOptions);
  return {
    verifier: new CachingTokenVerifier(verifier, { maxEntries, keySet: () => keyRing.publicJwks }),
    isGrantActive: (grantId) => grants.isActive(grantId),
    isClientActive: (clientId) => clients.isActive(clientId),
    grantRevoked: (grantId) => grants.forget(grantId),
  };
}

/**
 * Returns the settings of the gateway's API key lookup cache, or undefined
 * when `gateway.tokenCache` is off, so that every API key is read from the
 * store on every request, as every token is then verified and checked.
 */
export function apiKeyLookupCacheOptions(config: Readonly<PortcullisConfig>): ApiKeyLookupCacheOptions | undefined {
  const { enabled, maxEntries } = config.gateway.tokenCache;
  return enabled ? { ttlMs: REVOCATION_CHECK_TTL_MS, maxEntries } : undefined;
}
