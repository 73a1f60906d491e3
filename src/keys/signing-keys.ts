import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';

import type { SigningKey, SigningKeyRepository } from '../store/signing-key-repository.js';

/**
 * The JWS algorithms of the authorization server's keys. Each rotation
 * creates one key for each. RS256 is here because OpenID Connect Core 1.0
 * section 15.1 requires an OpenID Provider to sign ID tokens with it.
 */
export const SIGNING_ALGORITHMS = ['ES256', 'RS256'] as const;

export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

/** The JWS algorithm of access tokens, the only one the gateway accepts. */
export const ACCESS_TOKEN_SIGNING_ALGORITHM: SigningAlgorithm = 'ES256';

/**
 * The ID token algorithm stored for a client registered without
 * `id_token_signed_response_alg`: RS256, the default that OpenID Connect
 * Dynamic Client Registration 1.0 section 2 gives and relying parties assume.
 */
export const DEFAULT_ID_TOKEN_SIGNING_ALGORITHM: SigningAlgorithm = 'RS256';

/**
 * The ID token algorithm of a stored client without
 * `id_token_signed_response_alg`. Only clients stored by earlier versions
 * lack it, and ES256 signed every ID token they received.
 */
export const LEGACY_CLIENT_ID_TOKEN_SIGNING_ALGORITHM: SigningAlgorithm = 'ES256';

/** Modulus length of RS256 keys, in bits: the minimum that RFC 7518 section 3.3 allows. */
export const RSA_MODULUS_LENGTH = 2048;

/** Tells whether `value` is one of SIGNING_ALGORITHMS. */
export function isSigningAlgorithm(value: unknown): value is SigningAlgorithm {
  return SIGNING_ALGORITHMS.includes(value as SigningAlgorithm);
}

/** Creates a new private signing JWK for `alg` whose kid is its RFC 7638 thumbprint. */
export async function generateSigningKey(alg: SigningAlgorithm = ACCESS_TOKEN_SIGNING_ALGORITHM): Promise<JWK & { kid: string; alg: string }> {
  const options = alg === 'RS256' ? { extractable: true, modulusLength: RSA_MODULUS_LENGTH } : { extractable: true };
  const { privateKey } = await generateKeyPair(alg, options);
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { ...jwk, kid, alg, use: 'sig' };
}

/**
 * Creates and activates a key for each signing algorithm that has no active
 * key, in one transaction, and returns those algorithms. On a store made
 * before RS256 keys existed, this adds the RS256 key and keeps the ES256 key.
 */
export async function ensureSigningKeys(keys: SigningKeyRepository): Promise<SigningAlgorithm[]> {
  const active = new Set(await keys.listActiveAlgorithms());
  const missing = SIGNING_ALGORITHMS.filter((alg) => !active.has(alg));
  if (missing.length > 0) {
    await keys.activate(...(await Promise.all(missing.map((alg) => generateSigningKey(alg)))));
  }
  return missing;
}

/**
 * Makes a new key active for every signing algorithm, in one transaction.
 * Each previous key stays published until its tokens expire. Returns the new
 * keys' kid and algorithm.
 */
export async function rotateSigningKeys(keys: SigningKeyRepository): Promise<Array<{ kid: string; alg: SigningAlgorithm }>> {
  const created = await Promise.all(SIGNING_ALGORITHMS.map(async (alg) => ({ alg, jwk: await generateSigningKey(alg) })));
  await keys.activate(...created.map(({ jwk }) => jwk));
  return created.map(({ alg, jwk }) => ({ kid: jwk.kid, alg }));
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'] as const;

/** Returns the public half of a private JWK. */
export function toPublicJwk(privateJwk: JWK): JWK {
  const publicJwk: JWK = { ...privateJwk };
  for (const member of PRIVATE_MEMBERS) {
    delete publicJwk[member];
  }
  return publicJwk;
}

/** Returns the JWK Set that verifiers use: the public half of every published key. */
export function toPublicJwks(keys: readonly SigningKey[]): { keys: JWK[] } {
  return { keys: keys.map((key) => toPublicJwk(key.privateJwk)) };
}
