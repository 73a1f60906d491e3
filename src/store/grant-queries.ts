/**
 * Queries of oidc-provider's stored grants and sessions that need only SQL.
 * They live apart from the adapter so that the account store, which the
 * library's API key store opens, does not import oidc-provider.
 */

import { sql, type Kysely } from 'kysely';

import { epochSeconds, isPostgres } from './database.js';
import type { Database } from './schema.js';

/**
 * Deletes every grant of an account with what was issued under it (codes,
 * refresh tokens, stored access tokens), and its sign-in sessions. Returns
 * the number of grants. Callers run it inside their transaction, so that the
 * account change and the revocation apply together.
 *
 * It reaches only SQL. With Redis configured, codes, opaque access tokens
 * and sessions kept there stay until they expire. oidc-provider 9 rejects
 * such a code or token once its grant is gone, and the login check of
 * `sessionsRevokedAt` voids such a session.
 */
export async function revokeAccountGrants(trx: Kysely<Database>, accountId: string): Promise<number> {
  const payloadAccountId = isPostgres(trx) ? sql<string>`payload::jsonb ->> 'accountId'` : sql<string>`json_extract(payload, '$.accountId')`;
  const grantIds = trx.selectFrom('oidc_payloads').select('id').where('model', '=', 'Grant').where(payloadAccountId, '=', accountId);

  await trx.deleteFrom('oidc_payloads').where('grant_id', 'in', grantIds).execute();

  const grants = await trx.deleteFrom('oidc_payloads').where('model', '=', 'Grant').where(payloadAccountId, '=', accountId).executeTakeFirst();
  await trx.deleteFrom('oidc_payloads').where('model', '=', 'Session').where(payloadAccountId, '=', accountId).execute();
  return Number(grants.numDeletedRows);
}

/** Deletes payloads that expired more than `graceSeconds` ago; returns how many. */
export async function deleteExpiredPayloads(db: Kysely<Database>, graceSeconds = 0): Promise<number> {
  const result = await db
    .deleteFrom('oidc_payloads')
    .where('expires_at', 'is not', null)
    .where('expires_at', '<=', epochSeconds() - graceSeconds)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Tells whether a grant exists and has not expired: the gateway's revocation check for JWT access tokens. */
export async function isGrantActive(db: Kysely<Database>, grantId: string): Promise<boolean> {
  const row = await db
    .selectFrom('oidc_payloads')
    .select('id')
    .where('model', '=', 'Grant')
    .where('id', '=', grantId)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', epochSeconds())]))
    .executeTakeFirst();
  return row !== undefined;
}
