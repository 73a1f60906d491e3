import { createHmac, randomBytes } from 'node:crypto';

import { KeyedHash } from './keyed-hash.js';

/**
 * Client secrets stored as keyed hashes.
 *
 * oidc-provider checks `client_secret_basic` by comparing the presented
 * secret with the plain secret in the client's metadata. Portcullis keeps
 * only an HMAC of the real secret. Before a request reaches oidc-provider,
 * the secret it carries is checked against that HMAC and, when it matches,
 * replaced by a stand-in derived from the client id. The metadata handed to
 * oidc-provider carries the same stand-in, so oidc-provider's own check
 * passes exactly when the real secret was right. The stand-in never leaves
 * the process.
 */
export class ClientSecretHasher extends KeyedHash {
  readonly #standInKey: Buffer;

  constructor(hashKey: Buffer, standInKey: Buffer) {
    super(hashKey);
    this.#standInKey = standInKey;
  }

  /** Returns the stand-in secret that oidc-provider sees for a client. */
  standIn(clientId: string): string {
    return createHmac('sha256', this.#standInKey).update(clientId, 'utf8').digest('base64url');
  }
}

/** Generates a client secret: 256 random bits in base64url, 43 characters. */
export function generateClientSecret(): string {
  return randomBytes(32).toString('base64url');
}
