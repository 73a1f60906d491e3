import { hkdfSync } from 'node:crypto';
import { CompactEncrypt, compactDecrypt, errors } from 'jose';

/**
 * Seals values at rest with a key derived from the server secret.
 *
 * Sealed values are compact JWEs (RFC 7516) with direct A256GCM encryption,
 * made by jose. Each purpose derives its own key with HKDF (RFC 5869), so a
 * value sealed for one purpose cannot be unsealed as another.
 */
export class SecretBox {
  readonly #key: Uint8Array;
  readonly #purpose: string;

  constructor(serverSecret: Uint8Array, purpose: string) {
    this.#purpose = purpose;
    this.#key = new Uint8Array(hkdfSync('sha256', serverSecret, new Uint8Array(0), `portcullis ${purpose}`, 32));
  }

  async seal(plaintext: string): Promise<string> {
    return new CompactEncrypt(new TextEncoder().encode(plaintext))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
      .encrypt(this.#key);
  }

  /** Decrypts a value from `seal`. Throws UnsealError when the value was sealed under another server secret. */
  async unseal(sealed: string): Promise<string> {
    try {
      const { plaintext } = await compactDecrypt(sealed, this.#key, {
        keyManagementAlgorithms: ['dir'],
        contentEncryptionAlgorithms: ['A256GCM'],
      });
      return new TextDecoder().decode(plaintext);
    } catch (error) {
      if (error instanceof errors.JWEDecryptionFailed) {
        throw new UnsealError(this.#purpose, error);
      }
      throw error;
    }
  }
}

/**
 * Failure to unseal a value whose A256GCM authentication tag does not match
 * the key, because another server secret sealed it or it was altered.
 */
export class UnsealError extends Error {
  constructor(purpose: string, cause: unknown) {
    super(`unsealing the stored ${purpose} failed, because another server secret sealed them or they were altered`, { cause });
    this.name = 'UnsealError';
  }
}

/** Derives a purpose-bound key from the server secret, for HMACs and cookie signing. */
export function deriveKey(serverSecret: Uint8Array, purpose: string, bytes = 32): Buffer {
  return Buffer.from(hkdfSync('sha256', serverSecret, new Uint8Array(0), `portcullis ${purpose}`, bytes));
}
