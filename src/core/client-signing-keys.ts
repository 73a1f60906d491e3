import { createPublicKey, type JsonWebKey } from 'node:crypto';

/**
 * Algorithms accepted for `private_key_jwt` client assertions. An Ed25519 key
 * signs under either name: `EdDSA`, and `Ed25519`, the fully-specified name
 * of RFC 9864 that openid-client 6 uses.
 */
export const CLIENT_AUTH_SIGNING_ALGORITHMS = ['ES256', 'ES384', 'PS256', 'RS256', 'Ed25519', 'EdDSA'] as const;

/** Smallest RSA modulus that jose 6 verifies RS256 and PS256 signatures with, in bits. */
const MIN_RSA_MODULUS_BITS = 2048;

/** The assertion algorithms of each kind of public key, by node:crypto's key type and curve. */
const ALGORITHMS_BY_KEY: Readonly<Record<string, readonly string[]>> = {
  'ec prime256v1': ['ES256'],
  'ec secp384r1': ['ES384'],
  rsa: ['PS256', 'RS256'],
  ed25519: ['Ed25519', 'EdDSA'],
};

/**
 * Returns why a public JWK of a client cannot verify its client assertions,
 * or undefined when it can. oidc-provider 9 skips a key of a type or curve
 * it does not support and rejects every assertion of a client whose key
 * set has a malformed key, so such a key is caught at registration. The
 * reason names no key material.
 */
export function clientSigningKeyProblem(jwk: Record<string, unknown>): string | undefined {
  if (jwk['use'] !== undefined && jwk['use'] !== 'sig') {
    return `its use is '${String(jwk['use'])}', but a client signs its assertions, so use must be sig or absent`;
  }

  let algorithms: readonly string[] | undefined;
  try {
    const details = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
    const curve = details.asymmetricKeyDetails?.namedCurve;
    algorithms = ALGORITHMS_BY_KEY[curve === undefined ? String(details.asymmetricKeyType) : `${String(details.asymmetricKeyType)} ${curve}`];
    const modulusLength = details.asymmetricKeyDetails?.modulusLength;
    if (details.asymmetricKeyType === 'rsa' && modulusLength !== undefined && modulusLength < MIN_RSA_MODULUS_BITS) {
      return `it is an RSA key of ${modulusLength} bits; use at least ${MIN_RSA_MODULUS_BITS}`;
    }
  } catch {
    const keyType = jwk['kty'] === undefined ? 'no kty' : `kty '${String(jwk['kty'])}'`;
    return `it is not a valid public key (${keyType}); check its members against RFC 7518 section 6`;
  }

  if (algorithms === undefined) {
    return `its key type cannot sign client assertions; use an EC P-256 or P-384, RSA or Ed25519 key (${CLIENT_AUTH_SIGNING_ALGORITHMS.join(', ')})`;
  }
  if (jwk['alg'] !== undefined && !algorithms.includes(String(jwk['alg']))) {
    return `its alg '${String(jwk['alg'])}' does not suit the key; use ${algorithms.join(' or ')}, or leave alg out`;
  }
  return undefined;
}
