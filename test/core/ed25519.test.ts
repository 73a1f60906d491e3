import { randomBytes, verify } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { ed25519KeyFromSeed, preferredEd25519Implementation } from '../../src/core/ed25519.js';
import { fuzzRuns } from '../support/fuzz.js';

const PREBUILDS = join(dirname(createRequire(import.meta.url).resolve('sodium-native/package.json')), 'prebuilds');

describe('Ed25519 signing key', () => {
  // sodium-native 4.3 ships prebuilt addons for Linux, macOS, Windows and
  // mobile platforms. Where it ships one, a failed load would leave signing
  // about twice as slow without failing anything else.
  it.runIf(existsSync(join(PREBUILDS, `${process.platform}-${process.arch}`)))('uses libsodium where a prebuilt addon ships', () => {
    expect(preferredEd25519Implementation()).toBe('libsodium');
    expect(ed25519KeyFromSeed(randomBytes(32)).implementation).toBe('libsodium');
  });

  it('matches node:crypto byte for byte', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 2048 }), (seed, message) => {
        const libsodium = ed25519KeyFromSeed(seed, 'libsodium');
        const nodeCrypto = ed25519KeyFromSeed(seed, 'node:crypto');

        const signature = libsodium.sign(message);

        expect(signature).toEqual(nodeCrypto.sign(message));
        expect(libsodium.publicKey.equals(nodeCrypto.publicKey)).toBe(true);
        expect(verify(null, message, libsodium.publicKey, signature)).toBe(true);
      }),
      { numRuns: fuzzRuns(300) },
    );
  });

  it('signs the RFC 8032 test vector', () => {
    // Test 1 of RFC 8032, section 7.1: the empty message.
    const seed = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
    const expectedSignature =
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';

    for (const implementation of ['libsodium', 'node:crypto'] as const) {
      const key = ed25519KeyFromSeed(seed, implementation);

      expect(key.sign(new Uint8Array()).toString('hex')).toBe(expectedSignature);
      expect(key.publicKey.export({ format: 'jwk' }).x).toBe(Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex').toString('base64url'));
    }
  });

  it('rejects a seed of another length', () => {
    expect(() => ed25519KeyFromSeed(randomBytes(31))).toThrow('An Ed25519 seed must be 32 bytes, got 31.');
    expect(() => ed25519KeyFromSeed(randomBytes(64), 'node:crypto')).toThrow('An Ed25519 seed must be 32 bytes, got 64.');
  });
});
