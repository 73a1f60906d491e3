import { randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';

/** The public key that the stand-in for sodium-native derives, or undefined for a wrong one. */
const stub = vi.hoisted(() => ({ publicKey: undefined as Buffer | undefined }));

// A faulty sodium-native build: its public key is wrong unless a test sets
// the right one, and its signatures never verify.
vi.mock('node:module', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:module')>();
  const faulty = {
    sodium_malloc: (size: number) => Buffer.alloc(size),
    crypto_sign_seed_keypair: (publicKey: Buffer) => {
      if (stub.publicKey === undefined) {
        publicKey.fill(7);
      } else {
        stub.publicKey.copy(publicKey);
      }
    },
    crypto_sign_detached: (signature: Buffer) => {
      signature.fill(1);
    },
  };
  return { ...actual, createRequire: () => () => faulty };
});

const { ed25519KeyFromSeed, libsodiumFailure, preferredEd25519Implementation } = await import('../../src/core/ed25519.js');

describe('Ed25519 with a faulty libsodium', () => {
  it('rejects a public key unlike node:crypto', () => {
    stub.publicKey = undefined;

    expect(() => ed25519KeyFromSeed(randomBytes(32), 'libsodium')).toThrow('libsodium derived another Ed25519 public key from the seed than node:crypto.');
  });

  it('rejects signatures that do not verify', () => {
    const seed = randomBytes(32);
    stub.publicKey = Buffer.from(ed25519KeyFromSeed(seed, 'node:crypto').publicKey.export({ format: 'jwk' }).x as string, 'base64url');

    expect(() => ed25519KeyFromSeed(seed, 'libsodium')).toThrow('libsodium produced an Ed25519 signature that its public key does not verify.');
  });

  it('falls back to node:crypto by default', () => {
    stub.publicKey = undefined;

    const key = ed25519KeyFromSeed(randomBytes(32));

    expect(key.implementation).toBe('node:crypto');
    expect(libsodiumFailure()?.message).toBe('libsodium derived another Ed25519 public key from the seed than node:crypto.');
    expect(preferredEd25519Implementation()).toBe('node:crypto');
  });
});
