import type { ApiKeyLookupCacheOptions } from '../api-keys/lookup-cache.js';
import type { PortcullisConfig } from '../config/schema.js';
import { AccessTokenVerifier } from '../core/access-token-verifier.js';
import { ActivityCache, type ActivityCheck } from '../core/cache/activity-cache.js';
import { CachingTokenVerifier, type TokenVerifier } from '../core/cache/token-cache.js';
import type { KeyRing } from '../keys/key-ring.js';
import { ACCESS_TOKEN_SIGNING_ALGORITHM } from '../keys/signing-keys.js';

/** The gateway's checks of every access token, and the hook for revocations made in this process. */
export interface CredentialChecks {
  verifier: TokenVerifier;
  isGrantActive: ActivityCheck;
  isClientActive: ActivityCheck;
  /** Makes a grant revoked by this process's authorization server fail its next check. */
  grantRevoked(grantId: string): void;
}

/**
 * Builds the gateway's token verifier and revocation checks. The token cache
 * (`gateway.tokenCache`) spares a repeated token its signature check, and
 * each revocation check is reused for `gateway.revocationCheckTtlMs`. They
 * are separate settings: one saves work, the other bounds how late a
 * revocation applies.
 */
export function createCredentialChecks(
  config: Readonly<PortcullisConfig>,
  keyRing: KeyRing,
  activity: { isGrantActive: ActivityCheck; isClientActive: ActivityCheck },
): CredentialChecks {
  const { enabled, maxEntries } = config.gateway.tokenCache;
  const uncached = new AccessTokenVerifier({
    issuer: config.issuer,
    audience: config.audience,
    algorithms: [ACCESS_TOKEN_SIGNING_ALGORITHM],
    clockToleranceSeconds: config.gateway.clockToleranceSeconds,
    maxLifetimeSeconds: config.tokens.accessToken + config.gateway.clockToleranceSeconds,
    // The ring also publishes RS256 keys, which sign only ID tokens.
    jwks: () => keyRing.accessTokenJwks,
  });
  const verifier = enabled
    ? new CachingTokenVerifier(uncached, { maxEntries, keySet: () => keyRing.accessTokenJwks, algorithms: [ACCESS_TOKEN_SIGNING_ALGORITHM] })
    : uncached;

  const ttlMs = config.gateway.revocationCheckTtlMs;
  if (ttlMs === 0) {
    return { verifier, ...activity, grantRevoked: () => undefined };
  }

  const cacheOptions = { ttlMs, maxEntries };
  const grants = new ActivityCache(activity.isGrantActive, cacheOptions);
  const clients = new ActivityCache(activity.isClientActive, cacheOptions);
  return {
    verifier,
    isGrantActive: (grantId) => grants.isActive(grantId),
    isClientActive: (clientId) => clients.isActive(clientId),
    grantRevoked: (grantId) => grants.forget(grantId),
  };
}

/**
 * Returns the settings of the gateway's API key lookup cache, or undefined
 * when every request reads its API key from the store: with
 * `gateway.tokenCache` off, or with `gateway.revocationCheckTtlMs` at 0,
 * because a kept lookup is also a kept revocation check.
 */
export function apiKeyLookupCacheOptions(config: Readonly<PortcullisConfig>): ApiKeyLookupCacheOptions | undefined {
  const { enabled, maxEntries } = config.gateway.tokenCache;
  const ttlMs = config.gateway.revocationCheckTtlMs;
  return enabled && ttlMs > 0 ? { ttlMs, maxEntries } : undefined;
}
