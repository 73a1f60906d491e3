import type { Kysely } from 'kysely';
import { sql } from 'kysely';

import type { SecretBox } from '../core/secret-box.js';
import { epochSeconds } from './database.js';
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
  token_endpoint_auth_method: 'none' | 'client_secret_basic';
  application_type: 'web';
  id_token_signed_response_alg?: string;
}

interface StoredMetadata extends Omit<ClientMetadata, 'client_secret'> {
  sealed_client_secret?: string;
}

/** A client as listed to administrators: everything but the secret. */
export interface ClientSummary {
  clientId: string;
  name: string;
  type: 'public' | 'confidential';
  redirectUris: string[];
  grantTypes: string[];
  createdAt: number;
}

/**
 * Stores OAuth clients. A client secret is sealed with the server secret
 * before it is written, because oidc-provider needs the plain value back to
 * check `client_secret_basic` authentication.
 */
export class ClientRepository {
  readonly #db: Kysely<Database>;
  readonly #box: SecretBox;

  constructor(db: Kysely<Database>, box: SecretBox) {
    this.#db = db;
    this.#box = box;
  }

  /** Inserts a client; throws DuplicateError when the client_id is taken. */
  async create(metadata: ClientMetadata): Promise<void> {
    const { client_secret: secret, ...rest } = metadata;
    const stored: StoredMetadata = { ...rest };
    if (secret !== undefined) {
      stored.sealed_client_secret = await this.#box.seal(secret);
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

  /** Returns the metadata of a client with its secret unsealed, or undefined. */
  async find(clientId: string): Promise<ClientMetadata | undefined> {
    const row = await this.#db
      .selectFrom('clients')
      .select('metadata')
      .where('client_id', '=', clientId)
      .executeTakeFirst();
    if (row === undefined) {
      return undefined;
    }

    const { sealed_client_secret: sealed, ...metadata } = JSON.parse(row.metadata) as StoredMetadata;
    if (sealed === undefined) {
      return metadata;
    }

    return { ...metadata, client_secret: await this.#box.unseal(sealed) };
  }

  async exists(clientId: string): Promise<boolean> {
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
        redirectUris: metadata.redirect_uris,
        grantTypes: metadata.grant_types,
        createdAt: row.created_at,
      };
    });
  }

  /**
   * Deletes a client together with every grant, token and code issued to it,
   * so its access tokens stop working at the gateway at once.
   *
   * Returns false when no such client exists.
   */
  async remove(clientId: string): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const grantIds = await trx
        .selectFrom('oidc_payloads')
        .select('id')
        .where('model', '=', 'Grant')
        .where(sql<string>`json_extract(payload, '$.clientId')`, '=', clientId)
        .execute();

      for (const { id } of grantIds) {
        await trx.deleteFrom('oidc_payloads').where('grant_id', '=', id).execute();
      }

      await trx
        .deleteFrom('oidc_payloads')
        .where(sql<string>`json_extract(payload, '$.clientId')`, '=', clientId)
        .execute();

      const result = await trx.deleteFrom('clients').where('client_id', '=', clientId).executeTakeFirst();
      return result.numDeletedRows > 0n;
    });
  }
}
