import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';

import type { SigningKey, SigningKeyRepository } from '../store/signing-key-repository.js';

/** The JWS algorithm of access and ID tokens. */
export const SIGNING_ALGORITHM = 'ES256';

/** Creates a new private signing JWK whose kid is its RFC 7638 thumbprint. */
export async function generateSigningKey(): Promise<JWK & { kid: string; alg: string }> {
  const { privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { ...jwk, kid, alg: SIGNING_ALGORITHM, use: 'sig' };
}

/** Creates the first signing key when the store has no active key; returns true if it did. */
export async function ensureSigningKey(keys: SigningKeyRepository): Promise<boolean> {
  if (await keys.hasActiveKey()) {
    return false;
  }

  await keys.activate(await generateSigningKey());
  return true;
}

/** Makes a new key active; the previous key stays published until its tokens expire. Returns the new kid. */
export async function rotateSigningKey(keys: SigningKeyRepository): Promise<string> {
  const key = await generateSigningKey();
  await keys.activate(key);
  return key.kid;
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
