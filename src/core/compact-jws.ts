/**
 * EdDSA (Ed25519) signatures in JWS Compact Serialization (RFC 7515,
 * section 7.1), made synchronously.
 *
 * jose 6 signs only through WebCrypto, which runs each signature as a job on
 * libuv's thread pool. On a gateway confined to one core, the thread switches
 * of that job cost more than the signature itself (BENCHMARKS.md, "Identity
 * assertion"). Ed25519 signatures are deterministic, so the tests compare
 * this output with jose's CompactSign byte for byte. Verification stays with jose.
 */

import type { Ed25519SigningKey } from './ed25519.js';

function encodeSegment(value: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

/**
 * Signs payloads under one protected header. The header is encoded once,
 * since a signer such as the gateway's uses the same one for every request.
 */
export class CompactEd25519Signer {
  readonly #encodedHeader: string;
  readonly #key: Ed25519SigningKey;

  constructor(header: Record<string, unknown>, key: Ed25519SigningKey) {
    if (header['alg'] !== 'EdDSA') {
      throw new TypeError(`The protected header must name the EdDSA algorithm, got ${String(header['alg'])}.`);
    }

    this.#encodedHeader = encodeSegment(header);
    this.#key = key;
  }

  /** Signs `payload` as a compact JWS. */
  sign(payload: Record<string, unknown>): string {
    const signingInput = `${this.#encodedHeader}.${encodeSegment(payload)}`;
    const signature = this.#key.sign(Buffer.from(signingInput, 'ascii'));
    return `${signingInput}.${signature.toString('base64url')}`;
  }
}
