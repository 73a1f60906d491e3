import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';

import { AccessTokenVerifier, InvalidAccessTokenError } from '../../src/core/access-token-verifier.js';
import { UnusableKeyError } from '../../src/core/jwt-errors.js';

const ISSUER = 'https://portcullis.example.test';
const AUDIENCE = `${ISSUER}/api`;

interface KeyPair {
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function keyPair(kid?: string): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  return { privateKey, publicJwk: { ...(await exportJWK(publicKey)), ...(kid === undefined ? {} : { kid }), alg: 'ES256', use: 'sig' } };
}

function claims(): JWTPayload {
  const now = Math.floor(Date.now() / 1000);
  return { iss: ISSUER, aud: AUDIENCE, sub: 'alice', client_id: 'app', grant_id: 'grant-1', jti: 'token-1', scope: 'orders:read', iat: now, exp: now + 600 };
}

function sign(key: KeyPair, header: { kid?: string } = {}): Promise<string> {
  return new SignJWT(claims()).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', ...header }).sign(key.privateKey);
}

function verifierOf(keys: JWK[]): AccessTokenVerifier {
  return new AccessTokenVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    algorithms: ['ES256'],
    clockToleranceSeconds: 5,
    maxLifetimeSeconds: 3600,
    jwks: () => ({ keys }),
  });
}

describe('access token keys', () => {
  let first: KeyPair;
  let second: KeyPair;

  beforeAll(async () => {
    first = await keyPair();
    second = await keyPair();
  });

  it('accepts a token without kid among several keys', async () => {
    const verifier = verifierOf([first.publicJwk, second.publicJwk]);

    await expect(verifier.verify(await sign(second))).resolves.toMatchObject({ subject: 'alice' });
    await expect(verifier.verify(await sign(first))).resolves.toMatchObject({ subject: 'alice' });
  });

  it('accepts a kid that two keys share', async () => {
    const verifier = verifierOf([
      { ...first.publicJwk, kid: 'shared' },
      { ...second.publicJwk, kid: 'shared' },
    ]);

    await expect(verifier.verify(await sign(second, { kid: 'shared' }))).resolves.toMatchObject({ subject: 'alice' });
  });

  it('rejects a token no matching key signed', async () => {
    const other = await keyPair();
    const verifier = verifierOf([first.publicJwk, second.publicJwk]);

    const verification = verifier.verify(await sign(other));

    await expect(verification).rejects.toBeInstanceOf(InvalidAccessTokenError);
    await expect(verification).rejects.toThrow('the access token signature is invalid');
  });

  it('checks claims with the matching key', async () => {
    const verifier = verifierOf([first.publicJwk, second.publicJwk]);
    const expired = await new SignJWT({ ...claims(), iat: 1000, exp: 2000 }).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' }).sign(second.privateKey);

    await expect(verifier.verify(expired)).rejects.toThrow('the access token expired');
  });
});

describe('access token unusable keys', () => {
  it('reports several unusable matching keys', async () => {
    const signer = await keyPair();
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    // A private JWK in a public key set matches the token's header but cannot be imported as a public key.
    const privateJwk: JWK = { ...(await exportJWK(privateKey)), alg: 'ES256', use: 'sig' };
    const verifier = verifierOf([privateJwk, { ...privateJwk }]);

    const verification = verifier.verify(await sign(signer));

    await expect(verification).rejects.toBeInstanceOf(UnusableKeyError);
    await expect(verification).rejects.toThrow('a key in the key set cannot be used');
  });
});

describe('access token spelling', () => {
  it('rejects a padded token', async () => {
    const signer = await keyPair();
    const verifier = verifierOf([signer.publicJwk]);
    const token = await sign(signer);

    await expect(verifier.verify(token)).resolves.toMatchObject({ subject: 'alice' });
    await expect(verifier.verify(`${token}==`)).rejects.toThrow('the access token\'s signature ends in "=" padding');
  });

  it('rejects a PS256 signature without its leading zero', async () => {
    const { privateKey, publicKey } = await generateKeyPair('PS256');
    const publicJwk: JWK = { ...(await exportJWK(publicKey)), alg: 'PS256', use: 'sig' };
    const verifier = new AccessTokenVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithms: ['PS256'],
      clockToleranceSeconds: 5,
      maxLifetimeSeconds: 3600,
      jwks: () => ({ keys: [publicJwk] }),
    });

    // About one RSASSA-PSS signature in 256 starts with a zero byte, which
    // WebCrypto also accepts when it is left out. The bound keeps the loop
    // finite: the odds of no such signature in 4000 tries are about 2e-7.
    let token: string | undefined;
    for (let attempt = 0; attempt < 4000 && token === undefined; attempt += 1) {
      const candidate = await new SignJWT({ ...claims(), jti: `token-${attempt}` }).setProtectedHeader({ alg: 'PS256', typ: 'at+jwt' }).sign(privateKey);
      const signature = Buffer.from(candidate.split('.')[2] ?? '', 'base64url');
      if (signature[0] === 0) {
        token = candidate;
      }
    }
    if (token === undefined) {
      throw new Error('no signature with a leading zero byte in 4000 tries');
    }
    const signingInput = token.slice(0, token.lastIndexOf('.'));
    const shortened = `${signingInput}.${Buffer.from(token.split('.')[2] ?? '', 'base64url').subarray(1).toString('base64url')}`;

    await expect(verifier.verify(token)).resolves.toMatchObject({ subject: 'alice' });
    await expect(verifier.verify(shortened)).rejects.toThrow("the access token's signature has the wrong length for the PS256 algorithm");
  });
});
