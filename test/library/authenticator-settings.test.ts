import { describe, expect, it } from 'vitest';

import { Authenticator, type AuthenticatorSettings } from '../../src/library/authenticator.js';

const ISSUER = 'https://id.example.com';
const AUDIENCE = `${ISSUER}/api`;
const JWKS_URL = `${ISSUER}/.well-known/jwks.json`;
const ASSERTION_KEYS = { keys: [] };

function accessTokens(extra: Record<string, unknown>): AuthenticatorSettings {
  return { accessTokens: { issuer: ISSUER, audience: AUDIENCE, jwksUrl: JWKS_URL, ...extra } };
}

function identityAssertions(extra: Record<string, unknown>): AuthenticatorSettings {
  return { identityAssertions: { issuer: ISSUER, audience: AUDIENCE, jwks: ASSERTION_KEYS, ...extra } };
}

describe('Authenticator settings', () => {
  // A duration string would reach jose, which reads it, while the lifetime
  // and future `iat` checks added it to numbers and so never failed.
  it.each([
    ['accessTokens.clockToleranceSeconds', accessTokens({ clockToleranceSeconds: '5s' })],
    ['accessTokens.clockToleranceSeconds', accessTokens({ clockToleranceSeconds: Number.NaN })],
    ['accessTokens.clockToleranceSeconds', accessTokens({ clockToleranceSeconds: -1 })],
    ['accessTokens.clockToleranceSeconds', accessTokens({ clockToleranceSeconds: 61 })],
    ['accessTokens.maxLifetimeSeconds', accessTokens({ maxLifetimeSeconds: '1h' })],
    ['accessTokens.maxLifetimeSeconds', accessTokens({ maxLifetimeSeconds: Number.POSITIVE_INFINITY })],
    ['accessTokens.maxLifetimeSeconds', accessTokens({ maxLifetimeSeconds: 0 })],
    ['accessTokens.tokenCacheSize', accessTokens({ tokenCacheSize: '10' })],
    ['identityAssertions.maxLifetimeSeconds', identityAssertions({ maxLifetimeSeconds: '60s' })],
    ['identityAssertions.maxLifetimeSeconds', identityAssertions({ maxLifetimeSeconds: Number.NaN })],
    ['identityAssertions.replayCacheSize', identityAssertions({ replayCacheSize: 0 })],
    ['identityAssertions.replayCacheSize', identityAssertions({ replayCacheSize: '1000' })],
  ])('rejects an invalid %s', (name, settings) => {
    expect(() => new Authenticator(settings)).toThrow(RangeError);
    expect(() => new Authenticator(settings)).toThrow(`${name} must be a whole number`);
  });

  // Each of these made every token fail with 401 instead of stopping the start.
  it.each([{ algorithms: 'ES256' }, { algorithms: [] }, { algorithms: ['none'] }, { algorithms: ['HS256'] }, { algorithms: ['ES256', 'hs512'] }, { algorithms: [''] }, { algorithms: [256] }, { algorithms: ['ES265'] }, { algorithms: ['es256'] }, { algorithms: ['RSA-OAEP-256'] }, { algorithms: ['ES256K'] }])(
    'rejects the algorithms $algorithms',
    ({ algorithms }) => {
    expect(() => new Authenticator(accessTokens({ algorithms }))).toThrow(RangeError);
    expect(() => new Authenticator(accessTokens({ algorithms }))).toThrow('accessTokens.algorithms must be a list of public key JWS algorithms');
    },
  );

  // Without an issuer or audience, jose checks no `iss` or `aud`, so any
  // token signed by a key of the set would be accepted.
  it.each([
    ['accessTokens.issuer', accessTokens({ issuer: undefined })],
    ['accessTokens.issuer', accessTokens({ issuer: '' })],
    ['accessTokens.audience', accessTokens({ audience: undefined })],
    ['accessTokens.audience', accessTokens({ audience: ['a', 'b'] })],
    ['identityAssertions.issuer', identityAssertions({ issuer: undefined })],
    ['identityAssertions.audience', identityAssertions({ audience: '' })],
  ])('rejects a missing %s', (name, settings) => {
    expect(() => new Authenticator(settings)).toThrow(RangeError);
    expect(() => new Authenticator(settings)).toThrow(`${name} must be a non-empty string`);
  });

  it.each([
    ['accessTokens.jwksUrl', accessTokens({ jwksUrl: undefined })],
    ['accessTokens.jwksUrl', accessTokens({ jwksUrl: 'id.example.com/.well-known/jwks.json' })],
    ['identityAssertions.jwksUrl', identityAssertions({ jwks: undefined, jwksUrl: '/.well-known/portcullis-identity-jwks.json' })],
  ])('rejects an invalid %s', (name, settings) => {
    expect(() => new Authenticator(settings)).toThrow(RangeError);
    expect(() => new Authenticator(settings)).toThrow(`${name} must be an absolute URL such as https://`);
  });

  it.each(['', 5])('rejects the upstream name %j', (upstream) => {
    expect(() => new Authenticator(identityAssertions({ upstream }))).toThrow('identityAssertions.upstream must be the name of an upstream');
  });

  it.each([
    accessTokens({ clockToleranceSeconds: 0 }),
    accessTokens({ clockToleranceSeconds: 60, maxLifetimeSeconds: 1 }),
    accessTokens({ tokenCacheSize: 0 }),
    accessTokens({ algorithms: ['ES256', 'EdDSA', 'PS256'] }),
    accessTokens({ algorithms: ['RS512', 'ES512', 'Ed25519', 'ML-DSA-65'] }),
    identityAssertions({ maxLifetimeSeconds: 1, replayCacheSize: 1, upstream: 'orders' }),
  ])('accepts boundary values %#', (settings) => {
    expect(() => new Authenticator(settings)).not.toThrow();
  });
});
