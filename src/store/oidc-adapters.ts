import type { Kysely } from 'kysely';
import type { Adapter } from 'oidc-provider';

import type { RedisClient } from '../backends/redis.js';
import type { ClientRepository } from './client-repository.js';
import { OidcAdapter, revokeGrant } from './oidc-adapter.js';
import { RedisOidcAdapter, revokeGrantInRedis } from './redis-oidc-adapter.js';
import type { Database } from './schema.js';

/**
 * oidc-provider models that live minutes to hours and are read on nearly
 * every request of a flow. With Redis configured they are kept there, with
 * Redis expiring them. Grants and refresh tokens stay in SQL, because they
 * live for weeks and the gateway's revocation check reads grants.
 */
export const REDIS_MODELS: ReadonlySet<string> = new Set([
  'Session',
  'Interaction',
  'AuthorizationCode',
  'ReplayDetection',
  'PushedAuthorizationRequest',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'AccessToken',
  'ClientCredentials',
]);

/**
 * Chooses, per model, the store of oidc-provider's payloads: Redis when
 * configured and the model is short-lived, SQL otherwise. `onGrantRevoked`
 * learns of every grant deleted through these adapters.
 */
export function createOidcAdapterFactory(
  db: Kysely<Database>,
  clients: ClientRepository,
  redis: RedisClient | null,
  onGrantRevoked: (grantId: string) => void = () => undefined,
): (model: string) => Adapter {
  if (redis === null) {
    return (model) => new OidcAdapter(db, model, clients, onGrantRevoked);
  }

  const revokeEverywhere = async (grantId: string) => {
    await revokeGrant(db, grantId);
    await revokeGrantInRedis(redis, grantId);
    onGrantRevoked(grantId);
  };
  return (model) =>
    REDIS_MODELS.has(model) ? new RedisOidcAdapter(redis, model, revokeEverywhere) : new OidcAdapter(db, model, clients, onGrantRevoked);
}
