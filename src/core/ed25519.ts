/**
 * Ed25519 signing keys (RFC 8032) derived from a 32-byte seed.
 *
 * The gateway signs an identity assertion for every forwarded request, so
 * the cost of one signature counts. libsodium, through sodium-native, signs
 * in about half the time of node:crypto on the benchmark machine (18 against
 * 34 µs, `npm run bench:signing`). Ed25519 signatures are deterministic, so
 * both give the same bytes for the same seed and message. node:crypto is
 * used where the native addon does not load.
 */

import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';

export type Ed25519Implementation = 'libsodium' | 'node:crypto';

/** An Ed25519 private key that signs synchronously, without a promise. */
export interface Ed25519SigningKey {
  /** The library that computes the signatures. */
  readonly implementation: Ed25519Implementation;
  /** The public key that the library derived from the seed, for publishing as a JWK. */
  readonly publicKey: KeyObject;
  /** Signs `message` and returns its 64-byte signature. */
  sign(message: Uint8Array): Buffer;
}

const SEED_BYTES = 32;
const PUBLIC_KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;
const LIBSODIUM_SECRET_KEY_BYTES = 64;

// PKCS #8 header of an Ed25519 private key with a 32-byte seed (RFC 8410
// section 7), which lets Node.js derive the key pair from the seed.
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** The message of the signature that checks a libsodium key pair before its first use. */
const SELF_TEST_MESSAGE = Buffer.from('portcullis ed25519 self-test');

/** The part of sodium-native's interface that signing uses. */
interface Sodium {
  sodium_malloc(size: number): Buffer;
  crypto_sign_seed_keypair(publicKey: Buffer, secretKey: Buffer, seed: Uint8Array): void;
  crypto_sign_detached(signature: Buffer, message: Uint8Array, secretKey: Buffer): void;
}

let sodium: Sodium | null | undefined;
let sodiumFailure: Error | undefined;

/** Loads sodium-native once, and returns null when its prebuilt addon does not load. */
function loadSodium(): Sodium | null {
  if (sodium === undefined) {
    try {
      sodium = createRequire(import.meta.url)('sodium-native') as Sodium;
    } catch (error) {
      sodium = null;
      sodiumFailure = error instanceof Error ? error : new Error(String(error));
    }
  }
  return sodium;
}

/** Returns why libsodium is not used: its addon failed to load, or a key failed its check. Undefined while libsodium is used or not tried yet. */
export function libsodiumFailure(): Error | undefined {
  return sodiumFailure;
}

/** Returns the implementation that `ed25519KeyFromSeed` picks by default on this platform. */
export function preferredEd25519Implementation(): Ed25519Implementation {
  return loadSodium() === null ? 'node:crypto' : 'libsodium';
}

/** Derives the key pair with node:crypto, which follows RFC 8032. */
function nodeCryptoKeyPair(seed: Uint8Array): { privateKey: KeyObject; publicKey: KeyObject } {
  const der = Buffer.concat([ED25519_PKCS8_PREFIX, seed]);
  try {
    const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    return { privateKey, publicKey: createPublicKey(privateKey) };
  } finally {
    // The encoding contains the seed, in a buffer that Node.js may reuse.
    der.fill(0);
  }
}

function nodeCryptoKey(seed: Uint8Array): Ed25519SigningKey {
  const { privateKey, publicKey } = nodeCryptoKeyPair(seed);

  return {
    implementation: 'node:crypto',
    publicKey,
    sign: (message) => sign(null, message, privateKey),
  };
}

/**
 * Derives the key pair with libsodium. Its copy of the secret key lives in
 * memory from sodium_malloc, which sodium-native releases with sodium_free,
 * so libsodium zeroes it when the key is collected.
 *
 * A faulty addon build would publish a key that the other instances do not
 * share, or that every upstream rejects. So the public key must equal the
 * one node:crypto derives, and one signature must verify with node:crypto,
 * before the key is used.
 */
function libsodiumKey(library: Sodium, seed: Uint8Array): Ed25519SigningKey {
  const secretKey = library.sodium_malloc(LIBSODIUM_SECRET_KEY_BYTES);
  const rawPublicKey = Buffer.alloc(PUBLIC_KEY_BYTES);
  library.crypto_sign_seed_keypair(rawPublicKey, secretKey, seed);

  const { publicKey } = nodeCryptoKeyPair(seed);
  if (publicKey.export({ format: 'jwk' }).x !== rawPublicKey.toString('base64url')) {
    throw new Error('libsodium derived another Ed25519 public key from the seed than node:crypto.');
  }

  const signWithLibsodium = (message: Uint8Array) => {
    const signature = Buffer.allocUnsafe(SIGNATURE_BYTES);
    library.crypto_sign_detached(signature, message, secretKey);
    return signature;
  };
  if (!verify(null, SELF_TEST_MESSAGE, publicKey, signWithLibsodium(SELF_TEST_MESSAGE))) {
    throw new Error('libsodium produced an Ed25519 signature that its public key does not verify.');
  }

  return { implementation: 'libsodium', publicKey, sign: signWithLibsodium };
}

/**
 * Derives the Ed25519 key pair of `seed`. Uses libsodium when it loads and
 * passes its check, unless `implementation` names one.
 */
export function ed25519KeyFromSeed(seed: Uint8Array, implementation?: Ed25519Implementation): Ed25519SigningKey {
  if (seed.length !== SEED_BYTES) {
    throw new RangeError(`An Ed25519 seed must be ${SEED_BYTES} bytes, got ${seed.length}.`);
  }

  const chosen = implementation ?? preferredEd25519Implementation();
  if (chosen === 'node:crypto') {
    return nodeCryptoKey(seed);
  }

  const library = loadSodium();
  if (library === null) {
    throw new Error(`libsodium was requested, but it is not available on ${process.platform}-${process.arch}. Reinstall sodium-native, or leave the implementation unset to use node:crypto.`, {
      cause: sodiumFailure,
    });
  }

  try {
    return libsodiumKey(library, seed);
  } catch (error) {
    if (implementation !== undefined) {
      throw error;
    }

    // Only the speed depends on libsodium, so a failed check falls back.
    sodium = null;
    sodiumFailure = error instanceof Error ? error : new Error(String(error));
    return nodeCryptoKey(seed);
  }
}
