import { createHash, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import { sql } from 'kysely';

import type { ClientSecretHasher } from '../core/client-secrets.js';
import type { SecretBox } from '../core/secret-box.js';
import { epochSeconds, isPostgres, isStorableText } from './database.js';
import { DuplicateError, uniqueViolationColumn } from './errors.js';
import type { Database } from './schema.js';

/** OAuth client metadata, with RFC 7591 member names, as oidc-provider reads it. */
export interface ClientMetadata {
  client_id: string;
  client_name: string;
  client_secret?: string;
  redirect_uris: string[];
  grant_types: string[];
  response_types: string[];
  token_endpoint_auth_method: 'none' | 'client_secret_basic' | 'private_key_jwt';
  /** `native` for an app on the user's device (RFC 8252), whose loopback redirect URIs accept any port. */
  application_type: 'web' | 'native';
  id_token_signed_response_alg?: string;
  /**
   * Space-separated scopes the client may request, for a user or with
   * client credentials. Not the RFC 7591 `scope` member, which
   * oidc-provider limits to OpenID scopes.
   */
  allowed_scopes?: string;
  /** Public keys of a `private_key_jwt` client. */
  jwks?: { keys: Array<Record<string, unknown>> };
}

interface StoredMetadata extends Omit<ClientMetadata, 'client_secret'> {
  client_secret_hash?: string;
  /** Secrets of clients created by earlier versions, sealed rather than hashed. */
  sealed_client_secret?: string;
}

/** A client as listed to administrators: everything but the secret. */
export interface ClientSummary {
  clientId: string;
  name: string;
  type: 'public' | 'confidential';
  applicationType: ClientMetadata['application_type'];
  authMethod: string;
  /** Scopes the client may request, when it is limited. */
  scope: string | null;
  /**
   * The stored `id_token_signed_response_alg`. Null for a client stored by an
   * earlier version, which gets ES256, and for one that gets no ID tokens.
   */
  idTokenSignedResponseAlg: string | null;
  redirectUris: string[];
  grantTypes: string[];
  createdAt: number;
}

/**
 * Stores OAuth clients. A client secret is stored only as a keyed hash; see
 * ClientSecretHasher for how oidc-provider still checks it.
 */
export class ClientRepository {
  readonly #db: Kysely<Database>;
  readonly #box: SecretBox;
  readonly #secrets: ClientSecretHasher;

  constructor(db: Kysely<Database>, box: SecretBox, secrets: ClientSecretHasher) {
    this.#db = db;
    this.#box = box;
    this.#secrets = secrets;
  }

  /** Inserts a client; throws DuplicateError when the client_id is taken. */
  async create(metadata: ClientMetadata): Promise<void> {
    const { client_secret: secret, ...rest } = metadata;
    const stored: StoredMetadata = { ...rest };
    if (secret !== undefined) {
      stored.client_secret_hash = this.#secrets.hash(secret);
    }

    try {
      await this.#db
        .insertInto('clients')
        .values({ client_id: metadata.client_id, metadata: JSON.stringify(stored), created_at: epochSeconds() })
        .execute();
    } catch (error) {
      if (uniqueViolationColumn(error) !== undefined) {
        throw new DuplicateError('client_id');
      }
      throw error;
    }
  }

  /**
   * Returns the metadata of a client as oidc-provider needs it, or undefined.
   * A hashed secret appears as the client's stand-in secret.
   */
  async find(clientId: string): Promise<ClientMetadata | undefined> {
    const stored = await this.#findStored(clientId);
    if (stored === undefined) {
      return undefined;
    }

    const { sealed_client_secret: sealed, client_secret_hash: hash, ...metadata } = stored;
    if (hash !== undefined) {
      return { ...metadata, client_secret: this.#secrets.standIn(clientId) };
    }
    if (sealed !== undefined) {
      return { ...metadata, client_secret: await this.#box.unseal(sealed) };
    }
    return metadata;
  }

  /** Tells whether `secret` is the secret of a client whose secret is stored hashed. */
  async verifySecret(clientId: string, secret: string): Promise<boolean> {
    const hash = (await this.#findStored(clientId))?.client_secret_hash;
    return hash !== undefined && this.#secrets.matches(secret, hash);
  }

  /**
   * Returns the secret that oidc-provider compares for the client when
   * `secret` is the client's secret, or undefined when it is not: the
   * stand-in for a hashed secret, and the secret itself for a sealed one.
   */
  async providerSecret(clientId: string, secret: string): Promise<string | undefined> {
    const stored = await this.#findStored(clientId);
    if (stored?.client_secret_hash !== undefined) {
      return this.#secrets.matches(secret, stored.client_secret_hash) ? this.#secrets.standIn(clientId) : undefined;
    }
    if (stored?.sealed_client_secret !== undefined) {
      return sameSecret(secret, await this.#box.unseal(stored.sealed_client_secret)) ? secret : undefined;
    }
    return undefined;
  }

  async #findStored(clientId: string): Promise<StoredMetadata | undefined> {
    if (!isStorableText(clientId)) {
      return undefined;
    }

    const row = await this.#db
      .selectFrom('clients')
      .select('metadata')
      .where('client_id', '=', clientId)
      .executeTakeFirst();
    return row === undefined ? undefined : (JSON.parse(row.metadata) as StoredMetadata);
  }

  async exists(clientId: string): Promise<boolean> {
    if (!isStorableText(clientId)) {
      return false;
    }

    const row = await this.#db.selectFrom('clients').select('client_id').where('client_id', '=', clientId).executeTakeFirst();
    return row !== undefined;
  }

  async list(): Promise<ClientSummary[]> {
    const rows = await this.#db.selectFrom('clients').selectAll().orderBy('created_at').orderBy('client_id').execute();

    return rows.map((row) => {
      const metadata = JSON.parse(row.metadata) as StoredMetadata;
      return {
        clientId: row.client_id,
        name: metadata.client_name,
        type: metadata.token_endpoint_auth_method === 'none' ? 'public' : 'confidential',
        applicationType: metadata.application_type,
        authMethod: metadata.token_endpoint_auth_method,
        scope: metadata.allowed_scopes ?? null,
        idTokenSignedResponseAlg: metadata.id_token_signed_response_alg ?? null,
        redirectUris: metadata.redirect_uris,
        grantTypes: metadata.grant_types,
        createdAt: row.created_at,
      };
    });
  }

  /**
   * Deletes a client together with every grant, token and code issued to it,
   * and revokes the API keys created or rotated with its tokens. Its access
   * tokens and those keys stop working at the gateway once their checks are
   * no longer reused (`gateway.revocationCheckTtlMs`).
   *
   * Returns false when no such client exists.
   */
  async remove(clientId: string): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const payloadClientId = isPostgres(this.#db) ? sql<string>`payload::jsonb ->> 'clientId'` : sql<string>`json_extract(payload, '$.clientId')`;

      // The first statement writes. An SQLite transaction that reads first
      // fails with SQLITE_BUSY, without waiting, when another process (the
      // running server) writes before the transaction's first write.
      const grantIds = trx.selectFrom('oidc_payloads').select('id').where('model', '=', 'Grant').where(payloadClientId, '=', clientId);
      await trx.deleteFrom('oidc_payloads').where('grant_id', 'in', grantIds).execute();

      await trx.deleteFrom('oidc_payloads').where(payloadClientId, '=', clientId).execute();

      // The client received the values of the API keys created or rotated
      // with its tokens, so they end with it, as its tokens do.
      await trx.updateTable('api_keys').set({ revoked_at: epochSeconds() }).where('client_id', '=', clientId).where('revoked_at', 'is', null).execute();

      const result = await trx.deleteFrom('clients').where('client_id', '=', clientId).executeTakeFirst();
      return result.numDeletedRows > 0n;
    });
  }
}

/** Compares two secrets in constant time, whatever their lengths, through their SHA-256 digests. */
function sameSecret(presented: string, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
  return timingSafeEqual(digest(presented), digest(expected));
}
