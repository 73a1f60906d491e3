import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { clientSigningKeyProblem } from '../../src/core/client-signing-keys.js';

type Jwk = Record<string, unknown>;

function jwkOf({ publicKey }: { publicKey: KeyObject }): Jwk {
  return publicKey.export({ format: 'jwk' }) as Jwk;
}

const ecKey = (namedCurve: string) => jwkOf(generateKeyPairSync('ec', { namedCurve }));
const rsaKey = (modulusLength: number) => jwkOf(generateKeyPairSync('rsa', { modulusLength }));
const p256 = ecKey('P-256');
const p384 = ecKey('P-384');
const rsa = rsaKey(2048);
const ed25519 = jwkOf(generateKeyPairSync('ed25519'));

describe('client signing keys', () => {
  it.each([
    ['EC P-256', p256],
    ['EC P-256 with ES256', { ...p256, alg: 'ES256', use: 'sig' }],
    ['EC P-384 with ES384', { ...p384, alg: 'ES384' }],
    ['RSA with PS256', { ...rsa, alg: 'PS256' }],
    ['RSA with RS256', { ...rsa, alg: 'RS256' }],
    ['Ed25519 with EdDSA', { ...ed25519, alg: 'EdDSA' }],
    ['Ed25519 with Ed25519', { ...ed25519, alg: 'Ed25519' }],
  ])('accepts %s', (_case, jwk) => {
    expect(clientSigningKeyProblem(jwk)).toBeUndefined();
  });

  it.each([
    ['an EC key without x and y', { kty: 'EC', crv: 'P-256' }, "it is not a valid public key (kty 'EC')"],
    ['an unknown key type', { kty: 'foo', x: 'AQAB' }, "it is not a valid public key (kty 'foo')"],
    ['a key without kty', {}, 'it is not a valid public key (no kty)'],
    ['an EC point off the curve', { ...p256, y: p384['y'] }, "it is not a valid public key (kty 'EC')"],
    ['the curve secp256k1', ecKey('secp256k1'), 'its key type cannot sign client assertions'],
    ['the curve P-521', ecKey('P-521'), 'its key type cannot sign client assertions'],
    ['an X25519 key', jwkOf(generateKeyPairSync('x25519')), 'its key type cannot sign client assertions'],
    ['a short RSA key', rsaKey(1024), 'it is an RSA key of 1024 bits; use at least 2048'],
    ['an alg of another key type', { ...p256, alg: 'RS256' }, "its alg 'RS256' does not suit the key; use ES256, or leave alg out"],
    ['an HMAC alg', { ...rsa, alg: 'HS256' }, "its alg 'HS256' does not suit the key; use PS256 or RS256, or leave alg out"],
    ['an encryption key', { ...p256, use: 'enc' }, "its use is 'enc'"],
  ])('rejects %s', (_case, jwk, problem) => {
    expect(clientSigningKeyProblem(jwk)).toContain(problem);
  });
});
