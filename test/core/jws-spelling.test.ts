import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { CompactJwsSpelling, signatureLengthReason } from '../../src/core/jws-spelling.js';

const SUBJECT = 'the access token';
/** A header and a payload of 4n characters, which have no unused bits. */
const HEADER = 'eyJhbGciOiJFUzI1NiJ9';
const PAYLOAD = 'eyJzdWIiOiJhIn0A';
/** 86 characters, the length of an ES256 or Ed25519 signature. */
const SIGNATURE_86 = `${'A'.repeat(85)}Q`;

describe('compact JWS spelling', () => {
  const es256 = new CompactJwsSpelling(['ES256']);

  it('accepts the canonical spelling', () => {
    expect(es256.reason(`${HEADER}.${PAYLOAD}.${SIGNATURE_86}`, SUBJECT)).toBeUndefined();
  });

  it.each([
    ['two parts', `${HEADER}.${SIGNATURE_86}`, 'the access token is not a compact JWS of three parts separated by dots'],
    ['four parts', `${HEADER}.${PAYLOAD}.${SIGNATURE_86}.x`, 'the access token is not a compact JWS of three parts separated by dots'],
    ['a padded header', `${HEADER}Q==.${PAYLOAD}.${SIGNATURE_86}`, 'the access token\'s header ends in "=" padding'],
    ['a header of 4n + 1 characters', `${HEADER}A.${PAYLOAD}.${SIGNATURE_86}`, "the access token's header is not valid base64url"],
    ['unused bits in the payload', `${PAYLOAD}.${PAYLOAD}AB.${SIGNATURE_86}`, "the access token's payload is not canonical base64url"],
    ['2 unused bits set', `${HEADER}.${PAYLOAD}ABD.${SIGNATURE_86}`, "the access token's payload is not canonical base64url"],
    ['a padded signature', `${HEADER}.${PAYLOAD}.${SIGNATURE_86}==`, 'the access token\'s signature ends in "=" padding'],
    ['unused bits in the signature', `${HEADER}.${PAYLOAD}.${'A'.repeat(85)}R`, "the access token's signature is not canonical base64url"],
    ['a longer signature', `${HEADER}.${PAYLOAD}.${SIGNATURE_86}AAAA`, "the access token's signature has the wrong length for the accepted algorithms"],
    ['an empty signature', `${HEADER}.${PAYLOAD}.`, "the access token's signature has the wrong length for the accepted algorithms"],
  ])('rejects %s', (_name, token, reason) => {
    expect(es256.reason(token, SUBJECT)).toContain(reason);
  });

  it('accepts each fixed length of the algorithms', () => {
    const spelling = new CompactJwsSpelling(['ES256', 'ES512']);

    expect(spelling.reason(`${HEADER}.${PAYLOAD}.${SIGNATURE_86}`, SUBJECT)).toBeUndefined();
    expect(spelling.reason(`${HEADER}.${PAYLOAD}.${'A'.repeat(176)}`, SUBJECT)).toBeUndefined();
    expect(spelling.reason(`${HEADER}.${PAYLOAD}.${'A'.repeat(128)}`, SUBJECT)).toContain('wrong length');
  });

  it('leaves RSA signature lengths to verification', () => {
    const spelling = new CompactJwsSpelling(['ES256', 'PS256']);

    expect(spelling.reason(`${HEADER}.${PAYLOAD}.${'A'.repeat(340)}`, SUBJECT)).toBeUndefined();
  });
});

describe('verified signature length', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

  it('requires the modulus length for RSA', () => {
    expect(signatureLengthReason(`${HEADER}.${PAYLOAD}.${'A'.repeat(342)}`, 'PS256', rsa.publicKey, SUBJECT)).toBeUndefined();
    expect(signatureLengthReason(`${HEADER}.${PAYLOAD}.${'A'.repeat(340)}`, 'PS256', rsa.publicKey, SUBJECT)).toBe(
      "the access token's signature has the wrong length for the PS256 algorithm",
    );
  });

  it('requires the fixed length of ES256', () => {
    expect(signatureLengthReason(`${HEADER}.${PAYLOAD}.${SIGNATURE_86}`, 'ES256', undefined, SUBJECT)).toBeUndefined();
    expect(signatureLengthReason(`${HEADER}.${PAYLOAD}.${'A'.repeat(88)}`, 'ES256', undefined, SUBJECT)).toContain('wrong length');
  });

  it('fails closed for an unknown length', () => {
    expect(signatureLengthReason(`${HEADER}.${PAYLOAD}.${SIGNATURE_86}`, 'RS256', undefined, SUBJECT)).toContain('wrong length');
  });
});
