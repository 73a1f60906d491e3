import { SignJWT, exportJWK, generateKeyPair, type JSONWebKeySet, type JWTPayload } from 'jose';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { AccessTokenVerifier, InvalidAccessTokenError, type AccessTokenClaims } from '../../src/core/access-token-verifier.js';
import { CachingTokenVerifier, type TokenVerifier } from '../../src/core/cache/token-cache.js';
import type { Pending } from '../../src/core/pending.js';

const ISSUER = 'https://portcullis.example.test';
const AUDIENCE = `${ISSUER}/api`;

/** Counts the calls that reach the wrapped verifier. */
class CountingVerifier implements TokenVerifier {
  calls = 0;
  readonly #inner: TokenVerifier;

  constructor(inner: TokenVerifier) {
    this.#inner = inner;
  }

  verify(token: string): Pending<AccessTokenClaims> {
    this.calls += 1;
    return this.#inner.verify(token);
  }
}

interface SigningKey {
  kid: string;
  sign(payload: JWTPayload): Promise<string>;
  publicJwks: JSONWebKeySet;
}

async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  return {
    kid,
    publicJwks: { keys: [jwk] },
    sign: (payload) => new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid }).sign(privateKey),
  };
}

function claimsFor(subject: string, lifetimeSeconds = 600): JWTPayload {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: subject,
    client_id: 'app',
    jti: `jti-${subject}`,
    grant_id: `grant-${subject}`,
    scope: 'orders:read',
    iat: now,
    exp: now + lifetimeSeconds,
  };
}

describe('verified token cache', () => {
  let first: SigningKey;
  let second: SigningKey;
  let jwks: JSONWebKeySet;

  beforeAll(async () => {
    first = await signingKey('first');
    second = await signingKey('second');
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  function cachedVerifier(maxEntries = 100): { cache: CachingTokenVerifier; counter: CountingVerifier } {
    jwks = { keys: [...first.publicJwks.keys] };
    const verifier = new AccessTokenVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithms: ['ES256'],
      clockToleranceSeconds: 0,
      maxLifetimeSeconds: 3600,
      jwks: () => jwks,
    });
    const counter = new CountingVerifier(verifier);
    return { cache: new CachingTokenVerifier(counter, { maxEntries, keySet: () => jwks, algorithms: ['ES256'] }), counter };
  }

  it('verifies a repeated token once', async () => {
    const { cache, counter } = cachedVerifier();
    const token = await first.sign(claimsFor('alice'));

    const verified = await cache.verify(token);
    const again = await cache.verify(token);

    expect(again).toEqual(verified);
    expect(verified.subject).toBe('alice');
    expect(counter.calls).toBe(1);
  });

  it('returns a cached token synchronously', async () => {
    const { cache } = cachedVerifier();
    const token = await first.sign(claimsFor('alice'));

    const verification = cache.verify(token);
    expect(verification).toBeInstanceOf(Promise);
    await verification;

    const cached = cache.verify(token);
    expect(cached).not.toBeInstanceOf(Promise);
    expect((cached as AccessTokenClaims).subject).toBe('alice');
  });

  it('shares one verification between concurrent requests', async () => {
    const { cache, counter } = cachedVerifier();
    const token = await first.sign(claimsFor('alice'));

    const results = await Promise.all([cache.verify(token), cache.verify(token), cache.verify(token)]);

    expect(results.map((claims) => claims.subject)).toEqual(['alice', 'alice', 'alice']);
    expect(counter.calls).toBe(1);
  });

  it('shares a rejection only while it runs', async () => {
    const { cache, counter } = cachedVerifier();
    const token = await second.sign(claimsFor('mallory'));

    const results = await Promise.allSettled([cache.verify(token), cache.verify(token)]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    expect(counter.calls).toBe(1);

    await expect(cache.verify(token)).rejects.toThrow(InvalidAccessTokenError);
    expect(counter.calls).toBe(2);
    expect(cache.size).toBe(0);
  });

  it('verifies each distinct token', async () => {
    const { cache, counter } = cachedVerifier();

    await cache.verify(await first.sign(claimsFor('alice')));
    await cache.verify(await first.sign(claimsFor('bob')));

    expect(counter.calls).toBe(2);
    expect(cache.size).toBe(2);
  });

  it('rejects an expired token that is cached', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { cache, counter } = cachedVerifier();
    const token = await first.sign(claimsFor('alice', 60));
    await cache.verify(token);

    vi.setSystemTime(Date.now() + 61_000);

    await expect(cache.verify(token)).rejects.toThrow(InvalidAccessTokenError);
    expect(counter.calls).toBe(2);
    expect(cache.size).toBe(0);
  });

  it('never serves a token at its exp', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { cache, counter } = cachedVerifier();
    const claims = claimsFor('alice', 60);
    const token = await first.sign(claims);
    await cache.verify(token);

    vi.setSystemTime((claims.exp as number) * 1000);

    await expect(cache.verify(token)).rejects.toThrow('the access token expired');
    expect(counter.calls).toBe(2);
  });

  it('does not cache a token before its nbf', async () => {
    const notBefore = Math.floor(Date.now() / 1000) + 30;
    const stub: TokenVerifier = {
      verify: async () => ({
        subject: 'alice',
        clientId: 'app',
        scopes: [],
        roles: [],
        grantId: 'grant',
        expiresAt: notBefore + 600,
        notBefore,
        jti: 'jti',
        payload: { sub: 'alice', nbf: notBefore },
      }),
    };
    const counter = new CountingVerifier(stub);
    const cache = new CachingTokenVerifier(counter, { maxEntries: 10, keySet: () => first.publicJwks });

    await cache.verify('eyJ0.eyJ0.c2ln');
    await cache.verify('eyJ0.eyJ0.c2ln');

    expect(counter.calls).toBe(2);
    expect(cache.size).toBe(0);
  });

  it('does not cache a rejected token', async () => {
    const { cache, counter } = cachedVerifier();
    const token = await second.sign(claimsFor('mallory'));

    await expect(cache.verify(token)).rejects.toThrow('the access token is signed with an unknown key');
    await expect(cache.verify(token)).rejects.toThrow('the access token is signed with an unknown key');

    expect(counter.calls).toBe(2);
    expect(cache.size).toBe(0);
  });

  it('empties itself when the key set changes', async () => {
    const { cache, counter } = cachedVerifier();
    const token = await first.sign(claimsFor('alice'));
    await cache.verify(token);
    expect(cache.size).toBe(1);

    jwks = { keys: [...second.publicJwks.keys] };

    await expect(cache.verify(token)).rejects.toThrow('the access token is signed with an unknown key');
    expect(counter.calls).toBe(2);
    expect(cache.size).toBe(0);
  });

  it('neither serves nor keeps a token without a key set', async () => {
    const { counter } = cachedVerifier();
    const token = await first.sign(claimsFor('alice'));
    let keySet: JSONWebKeySet | undefined = jwks;
    const gated = new CachingTokenVerifier(counter, { maxEntries: 10, keySet: () => keySet });
    await gated.verify(token);

    keySet = undefined;
    await gated.verify(token);
    await gated.verify(token);
    expect(counter.calls).toBe(3);
    expect(gated.size).toBe(0);

    keySet = jwks;
    await gated.verify(token);
    await gated.verify(token);
    expect(counter.calls).toBe(4);
    expect(gated.size).toBe(1);
  });

  it('returns frozen claims', async () => {
    const { cache } = cachedVerifier();
    const token = await first.sign({ ...claimsFor('alice'), roles: ['clerk'], tenants: [{ id: 't1' }] });

    const claims = await cache.verify(token);

    expect(Object.isFrozen(claims)).toBe(true);
    expect(Object.isFrozen(claims.scopes)).toBe(true);
    expect(Object.isFrozen(claims.roles)).toBe(true);
    expect(Object.isFrozen((claims.payload['tenants'] as object[])[0])).toBe(true);
    expect(() => (claims.scopes as string[]).push('orders:write')).toThrow(TypeError);
    expect((await cache.verify(token)).scopes).toEqual(['orders:read']);
  });

  it('keeps its tokens when rejected ones arrive', async () => {
    const { cache, counter } = cachedVerifier(2);
    const alice = await first.sign(claimsFor('alice'));
    const bob = await first.sign(claimsFor('bob'));
    await cache.verify(alice);
    await cache.verify(bob);

    // Each forged token, rejected or not yet verified, must not push out a verified one.
    const forged = await Promise.all(['m1', 'm2', 'm3'].map((subject) => second.sign(claimsFor(subject))));
    const outcomes = await Promise.allSettled(forged.map((token) => cache.verify(token)));
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(counter.calls).toBe(5);

    expect(cache.verify(alice)).not.toBeInstanceOf(Promise);
    expect(cache.verify(bob)).not.toBeInstanceOf(Promise);
    expect(counter.calls).toBe(5);
    expect(cache.size).toBe(2);
  });

  it('keeps no token verified under an old key set', async () => {
    const { cache, counter } = cachedVerifier();
    const token = await first.sign(claimsFor('alice'));

    const verification = cache.verify(token);
    jwks = { keys: [...first.publicJwks.keys, ...second.publicJwks.keys] };
    expect((await verification).subject).toBe('alice');
    await cache.verify(token);

    expect(counter.calls).toBe(2);
    expect(cache.size).toBe(1);
  });

  it('keeps at most maxEntries tokens', async () => {
    const { cache, counter } = cachedVerifier(3);
    const tokens = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((subject) => first.sign(claimsFor(subject))));
    for (const token of tokens) {
      await cache.verify(token);
    }
    expect(cache.size).toBe(3);
    expect(counter.calls).toBe(5);

    await cache.verify(tokens[4]!);
    expect(counter.calls).toBe(5);

    await cache.verify(tokens[0]!);
    expect(counter.calls).toBe(6);
    expect(cache.size).toBe(3);
  });

  it('keeps one entry per signed token', async () => {
    const { cache, counter } = cachedVerifier();
    const token = await first.sign(claimsFor('alice'));
    await cache.verify(token);

    for (const spelling of otherSpellings(token)) {
      const verification = Promise.resolve().then(() => cache.verify(spelling));
      await expect(verification, spelling.slice(-4)).rejects.toBeInstanceOf(InvalidAccessTokenError);
      await expect(verification, spelling.slice(-4)).rejects.toThrow(/padding|unused bits/);
    }

    expect(cache.size).toBe(1);
    expect(counter.calls).toBe(1);
  });

  it('rejects a wrong signature length before lookup', async () => {
    const { cache, counter } = cachedVerifier();
    const token = await first.sign(claimsFor('alice'));

    expect(() => cache.verify(`${token}AAAA`)).toThrow("the access token's signature has the wrong length for the accepted algorithms");
    expect(() => cache.verify(token.slice(0, -2))).toThrow("the access token's signature has the wrong length for the accepted algorithms");
    expect(counter.calls).toBe(0);
  });
});

const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Returns the spellings of an ES256 token that base64url decoders which
 * allow padding and ignore unused bits read as the same bytes: the 86
 * characters of its signature leave 4 unused bits in the last one.
 */
function otherSpellings(token: string): string[] {
  const body = token.slice(0, -1);
  const value = BASE64URL_ALPHABET.indexOf(token.slice(-1));
  const lastCharacters = Array.from({ length: 16 }, (_, unused) => BASE64URL_ALPHABET[value | unused] as string);
  const spellings = lastCharacters.flatMap((last) => [`${body}${last}`, `${body}${last}==`]);
  return spellings.filter((spelling) => spelling !== token);
}
