import { calculateJwkThumbprint, importJWK, jwtVerify, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';

import { generateSigningKey, toPublicJwk } from '../../src/keys/signing-keys.js';

describe('signing key generation', () => {
  it('makes RSA keys of 2048 bits', async () => {
    const jwk = await generateSigningKey('RS256');

    expect(jwk.kty).toBe('RSA');
    expect(jwk.alg).toBe('RS256');
    expect(jwk.use).toBe('sig');
    expect(Buffer.from(jwk.n ?? '', 'base64url').length * 8).toBe(2048);
    expect(jwk.kid).toBe(await calculateJwkThumbprint(toPublicJwk(jwk)));
  });

  it('makes P-256 keys by default', async () => {
    const jwk = await generateSigningKey();

    expect(jwk.kty).toBe('EC');
    expect(jwk.crv).toBe('P-256');
    expect(jwk.alg).toBe('ES256');
    expect(jwk.kid).toBe(await calculateJwkThumbprint(toPublicJwk(jwk)));
  });

  it('signs and verifies with RS256', async () => {
    const jwk = await generateSigningKey('RS256');
    const token = await new SignJWT({ sub: 'a' }).setProtectedHeader({ alg: 'RS256', kid: jwk.kid }).sign(await importJWK(jwk, 'RS256'));

    const { protectedHeader } = await jwtVerify(token, await importJWK(toPublicJwk(jwk), 'RS256'), { algorithms: ['RS256'] });
    expect(protectedHeader.kid).toBe(jwk.kid);
  });
});
