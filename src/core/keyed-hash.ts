import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * HMAC-SHA-256 digests of secrets such as API keys and client secrets. The
 * HMAC key comes from the server secret, which lives outside the database,
 * so a database dump alone neither contains a usable secret nor lets anyone
 * test guesses offline.
 */
export class KeyedHash {
  readonly #key: Buffer;

  constructor(hmacKey: Buffer) {
    this.#key = hmacKey;
  }

  hash(value: string): string {
    return createHmac('sha256', this.#key).update(value, 'utf8').digest('base64url');
  }

  /** Compares a presented secret with a stored digest in constant time. */
  matches(value: string, storedHash: string): boolean {
    const presented = Buffer.from(this.hash(value), 'base64url');
    const stored = Buffer.from(storedHash, 'base64url');
    return presented.length === stored.length && timingSafeEqual(presented, stored);
  }
}
