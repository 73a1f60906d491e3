/**
 * Ed25519 signing keys (RFC 8032) derived from a 32-byte seed.
 *
 * The gateway signs an identity assertion for every forwarded request, so
 * the cost of one signature counts. libsodium, through sodium-native, signs
 * in about half the time of node:crypto on the benchmark machine (17 against
 * 34 µs). Ed25519 signatures are deterministic, so both give the same bytes
 * for the same seed and message. node:crypto is used where the native addon
 * does not load.
 */

import { createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';

export type Ed25519Implementation = 'libsodium' | 'node:crypto';

/** An Ed25519 private key that signs synchronously, without a promise. */
export interface Ed25519SigningKey {
  /** The library that computes the signatures. */
  readonly implementation: Ed25519Implementation;
  /** The public key, for publishing as a JWK. */
  readonly publicKey: KeyObject;
  /** Returns the 64-byte signature of `message`. */
  sign(message: Uint8Array): Buffer;
}

const SEED_BYTES = 32;
const PUBLIC_KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;
const LIBSODIUM_SECRET_KEY_BYTES = 64;

// PKCS #8 header of an Ed25519 private key with a 32-byte seed (RFC 8410
// section 7), which lets Node.js derive the key pair from the seed.
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** The part of sodium-native's interface that signing uses. */
interface Sodium {
  sodium_malloc(size: number): Buffer;
  crypto_sign_seed_keypair(publicKey: Buffer, secretKey: Buffer, seed: Uint8Array): void;
  crypto_sign_detached(signature: Buffer, message: Uint8Array, secretKey: Buffer): void;
}

let sodium: Sodium | null | undefined;
let sodiumLoadError: Error | undefined;

/** Loads sodium-native once, and returns null when its prebuilt addon does not load. */
function loadSodium(): Sodium | null {
  if (sodium === undefined) {
    try {
      sodium = createRequire(import.meta.url)('sodium-native') as Sodium;
    } catch (error) {
      sodium = null;
      sodiumLoadError = error instanceof Error ? error : new Error(String(error));
    }
  }
  return sodium;
}

/** Returns why sodium-native failed to load, or undefined when it loaded or was not tried yet. */
export function libsodiumLoadError(): Error | undefined {
  return sodiumLoadError;
}

/** Tells which implementation `ed25519KeyFromSeed` picks on this platform. */
export function preferredEd25519Implementation(): Ed25519Implementation {
  return loadSodium() === null ? 'node:crypto' : 'libsodium';
}

function libsodiumKey(library: Sodium, seed: Uint8Array, publicKey: KeyObject): Ed25519SigningKey {
  // Guarded memory, which sodium-native releases with sodium_free, so
  // libsodium zeroes the key when the signer is collected.
  const secretKey = library.sodium_malloc(LIBSODIUM_SECRET_KEY_BYTES);
  library.crypto_sign_seed_keypair(Buffer.alloc(PUBLIC_KEY_BYTES), secretKey, seed);

  return {
    implementation: 'libsodium',
    publicKey,
    sign(message) {
      const signature = Buffer.allocUnsafe(SIGNATURE_BYTES);
      library.crypto_sign_detached(signature, message, secretKey);
      return signature;
    },
  };
}

function nodeCryptoKey(privateKey: KeyObject, publicKey: KeyObject): Ed25519SigningKey {
  return {
    implementation: 'node:crypto',
    publicKey,
    sign: (message) => sign(null, message, privateKey),
  };
}

/**
 * Derives the Ed25519 key pair of `seed`. Uses libsodium when it loads,
 * unless `implementation` names one.
 */
export function ed25519KeyFromSeed(seed: Uint8Array, implementation?: Ed25519Implementation): Ed25519SigningKey {
  if (seed.length !== SEED_BYTES) {
    throw new RangeError(`An Ed25519 seed must be ${SEED_BYTES} bytes, got ${seed.length}.`);
  }

  const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey(privateKey);

  const chosen = implementation ?? preferredEd25519Implementation();
  if (chosen === 'node:crypto') {
    return nodeCryptoKey(privateKey, publicKey);
  }

  const library = loadSodium();
  if (library === null) {
    throw new Error('libsodium was requested, but sodium-native failed to load on this platform. Reinstall the dependencies or use node:crypto.');
  }
  return libsodiumKey(library, seed, publicKey);
}
