import { createPrivateKey, randomBytes, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { CompactSign, SignJWT, decodeJwt, jwtVerify } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { CompactEd25519Signer } from '../../src/core/compact-jws.js';
import { ed25519KeyFromSeed, type Ed25519Implementation } from '../../src/core/ed25519.js';
import { IdentityAssertionSigner, IDENTITY_ASSERTION_TYPE } from '../../src/core/identity-assertion.js';
import type { Identity } from '../../src/core/identity-headers.js';
import { fuzzRuns } from '../support/fuzz.js';

const IMPLEMENTATIONS: Ed25519Implementation[] = ['libsodium', 'node:crypto'];

const keySeed = randomBytes(32);
const privateKey = signerPrivateKey(keySeed);

/** Signs like CompactEd25519Signer, through jose and WebCrypto. */
function joseCompact(header: Record<string, unknown>, payload: Record<string, unknown>): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader({ ...header, alg: 'EdDSA' }).sign(privateKey);
}

const claimValue = fc.oneof(fc.string({ unit: 'binary' }), fc.integer(), fc.boolean(), fc.array(fc.string({ unit: 'grapheme' }), { maxLength: 4 }));

describe.each(IMPLEMENTATIONS)('compact JWS with Ed25519 signed by %s', (implementation) => {
  const key = ed25519KeyFromSeed(keySeed, implementation);

  it('matches jose byte for byte', async () => {
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }), fc.dictionary(fc.string(), claimValue, { maxKeys: 8 }), async (extraHeader, payload) => {
        const header = { ...extraHeader, alg: 'EdDSA' };

        expect(new CompactEd25519Signer(header, key).sign(payload)).toBe(await joseCompact(header, payload));
      }),
      { numRuns: fuzzRuns(200) },
    );
  });

  it('matches jose for every payload of one signer', async () => {
    const header = { alg: 'EdDSA', typ: 'JWT', kid: 'k1' };
    const signer = new CompactEd25519Signer(header, key);

    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.string(), claimValue, { maxKeys: 8 }), async (payload) => {
        expect(signer.sign(payload)).toBe(await joseCompact(header, payload));
      }),
      { numRuns: fuzzRuns(100) },
    );
  });

  it('verifies with jose', async () => {
    const token = new CompactEd25519Signer({ alg: 'EdDSA', typ: 'JWT' }, key).sign({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 60 });

    const { payload } = await jwtVerify(token, key.publicKey, { algorithms: ['EdDSA'] });

    expect(payload.sub).toBe('alice');
  });

  it('rejects a header naming another algorithm', () => {
    expect(() => new CompactEd25519Signer({ alg: 'ES256' }, key)).toThrow('The protected header must name the EdDSA algorithm, got ES256.');
  });
});

describe('identity assertion signer', () => {
  const seed = randomBytes(32);
  const options = { seed, issuer: 'https://gateway.example.test', audience: 'https://gateway.example.test/api', lifetimeSeconds: 30 };
  const identity: Identity = { subject: 'alice', scopes: ['openid', 'orders:read'], roles: ['support'], clientId: 'app', credential: 'api_key', keyId: 'key-1' };
  const request = { method: 'get', target: '/orders?limit=5', requestId: '6f1c2b3a-0000-4000-8000-000000000001', upstream: 'orders' };

  afterEach(() => {
    vi.useRealTimers();
  });

  /** Signs the assertion's claims for `request` with jose's SignJWT, under the signer's key id, in the signer's claim order. */
  function joseAssertion(credential: string, keyId: string | undefined, kid: string): Promise<string> {
    const claims = { scope: 'openid orders:read', roles: ['support'], client_id: 'app', credential, htm: 'GET', target: '/orders?limit=5', upstream: 'orders' };
    return new SignJWT(keyId === undefined ? claims : { ...claims, key_id: keyId })
      .setProtectedHeader({ alg: 'EdDSA', typ: IDENTITY_ASSERTION_TYPE, kid })
      .setIssuer(options.issuer)
      .setAudience(options.audience)
      .setSubject('alice')
      .setJti(request.requestId)
      .setIssuedAt()
      .setExpirationTime('30s')
      .sign(signerPrivateKey(seed));
  }

  it.each(IMPLEMENTATIONS)('signs with %s what jose SignJWT signs', async (implementation) => {
    const signer = new IdentityAssertionSigner({ ...options, implementation });
    const { kid } = await signer.publicJwk();
    vi.useFakeTimers({ now: new Date('2026-06-01T12:00:00.400Z') });

    const assertion = await signer.sign(identity, request);

    expect(assertion).toBe(await joseAssertion('api_key', 'key-1', kid));
  });

  it.each(IMPLEMENTATIONS)('signs a token caller with %s as SignJWT does', async (implementation) => {
    const signer = new IdentityAssertionSigner({ ...options, implementation });
    const { kid } = await signer.publicJwk();
    vi.useFakeTimers({ now: new Date('2026-06-01T12:00:00.400Z') });
    const { keyId: _keyId, ...tokenCaller } = identity;

    const assertion = await signer.sign({ ...tokenCaller, credential: 'jwt' }, request);

    expect(assertion).toBe(await joseAssertion('jwt', undefined, kid));
    expect(decodeJwt(assertion)).not.toHaveProperty('key_id');
  });

  it('rejects a seed of another length', () => {
    expect(() => new IdentityAssertionSigner({ ...options, seed: randomBytes(16) })).toThrow('An Ed25519 seed must be 32 bytes, got 16.');
  });

  it('signs synchronously after the first', async () => {
    const signer = new IdentityAssertionSigner(options);

    const first = signer.sign(identity, request);
    expect(first).toBeInstanceOf(Promise);
    await first;

    expect(typeof signer.sign(identity, request)).toBe('string');
  });
});

/** Derives the signer's private key from its seed, as an RFC 8410 PKCS #8 Ed25519 key. */
function signerPrivateKey(seed: Buffer): KeyObject {
  return createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
}
