/**
 * EdDSA (Ed25519) signatures in JWS Compact Serialization (RFC 7515,
 * section 7.1), made synchronously with node:crypto.
 *
 * jose 6 signs only through WebCrypto, which runs each signature as a job on
 * libuv's thread pool. On a gateway confined to one core, the thread switches
 * of that job cost more than the signature itself (BENCHMARKS.md, "Identity
 * assertion"). Ed25519 signatures are deterministic, so the tests compare
 * this output with jose's CompactSign byte for byte. Verification stays with jose.
 */

import { sign, type KeyObject } from 'node:crypto';

function encodeSegment(value: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

/** Signs `payload` as a compact JWS with `header` as its protected header. */
export function signCompactEd25519(header: Record<string, unknown>, payload: Record<string, unknown>, privateKey: KeyObject): string {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
    throw new TypeError(`An Ed25519 private key is required, got a ${privateKey.asymmetricKeyType ?? 'symmetric'} ${privateKey.type} key.`);
  }
  if (header['alg'] !== 'EdDSA') {
    throw new TypeError(`The protected header must name the EdDSA algorithm, got ${String(header['alg'])}.`);
  }

  const signingInput = `${encodeSegment(header)}.${encodeSegment(payload)}`;
  const signature = sign(null, Buffer.from(signingInput, 'ascii'), privateKey);
  return `${signingInput}.${signature.toString('base64url')}`;
}
