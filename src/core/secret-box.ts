import { hkdfSync } from 'node:crypto';
import { CompactEncrypt, compactDecrypt } from 'jose';

/**
 * Seals values at rest with a key derived from the server secret.
 *
 * Sealed values are compact JWEs (RFC 7516) with direct A256GCM encryption,
 * made by jose. Each purpose derives its own key with HKDF (RFC 5869), so a
 * value sealed for one purpose cannot be unsealed as another.
 */
export class SecretBox {
  readonly #key: Uint8Array;

  constructor(serverSecret: Uint8Array, purpose: string) {
    this.#key = new Uint8Array(hkdfSync('sha256', serverSecret, new Uint8Array(0), `portcullis ${purpose}`, 32));
  }

  async seal(plaintext: string): Promise<string> {
    return new CompactEncrypt(new TextEncoder().encode(plaintext))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
      .encrypt(this.#key);
  }

  async unseal(sealed: string): Promise<string> {
    const { plaintext } = await compactDecrypt(sealed, this.#key, {
      keyManagementAlgorithms: ['dir'],
      contentEncryptionAlgorithms: ['A256GCM'],
    });
    return new TextDecoder().decode(plaintext);
  }
}

/** Derives a purpose-bound key from the server secret, for HMACs and cookie signing. */
export function deriveKey(serverSecret: Uint8Array, purpose: string, bytes = 32): Buffer {
  return Buffer.from(hkdfSync('sha256', serverSecret, new Uint8Array(0), `portcullis ${purpose}`, bytes));
}
