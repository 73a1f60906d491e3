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

  // Each of these made every request fail with 503, and the reason went
  // only to a logger, which the Express middleware does not have by default.
  it.each([
    ['http://127.0.0.1:8080/.well-known/jwks.json', {}, 'set allowHttp: true'],
    ['http://127.0.0.1:8080/.well-known/jwks.json', { allowHttp: true }, 'add 8080 to allowedPorts'],
    ['http://127.0.0.1:8080/.well-known/jwks.json', { allowHttp: true, allowedPorts: [8080] }, "add { name: '127.0.0.1', allowInternal: true } to allowedHosts"],
    ['https://localhost/.well-known/jwks.json', {}, "add { name: 'localhost', allowInternal: true } to allowedHosts"],
    ['https://id.example.com/.well-known/jwks.json', { allowedHosts: [{ name: 'other.example.com' }] }, "add { name: 'id.example.com' } to allowedHosts"],
  ])('rejects the blocked JWKS URL %s %j', (jwksUrl, outbound, fix) => {
    const settings = accessTokens({ jwksUrl, outbound });
    expect(() => new Authenticator(settings)).toThrow(RangeError);
    expect(() => new Authenticator(settings)).toThrow(`accessTokens.jwksUrl ${jwksUrl} is blocked by accessTokens.outbound:`);
    expect(() => new Authenticator(settings)).toThrow(`To fetch it, ${fix} in accessTokens.outbound.`);
  });

  it('rejects a blocked assertion JWKS URL', () => {
    const settings = identityAssertions({ jwks: undefined, jwksUrl: 'http://127.0.0.1:8080/.well-known/portcullis-identity-jwks.json' });
    expect(() => new Authenticator(settings)).toThrow('identityAssertions.jwksUrl http://127.0.0.1:8080/.well-known/portcullis-identity-jwks.json is blocked by identityAssertions.outbound:');
  });

  it('rejects a cloud metadata JWKS URL', () => {
    const outbound = { allowHttp: true, allowedHosts: [{ name: '169.254.169.254', allowInternal: true }] };
    const settings = accessTokens({ jwksUrl: 'http://169.254.169.254/jwks.json', outbound });
    expect(() => new Authenticator(settings)).toThrow('accessTokens.jwksUrl http://169.254.169.254/jwks.json is blocked by accessTokens.outbound:');
    expect(() => new Authenticator(settings)).not.toThrow('To fetch it');
  });

  it('omits the password of a JWKS URL', () => {
    const settings = accessTokens({ jwksUrl: 'https://keys:s3cret-pass@id.example.com/.well-known/jwks.json' });
    expect(() => new Authenticator(settings)).toThrow('accessTokens.jwksUrl https://id.example.com/.well-known/jwks.json is blocked by accessTokens.outbound');
    expect(() => new Authenticator(settings)).not.toThrow('s3cret-pass');
  });

  it('accepts a local issuer opened in outbound', () => {
    const outbound = { allowHttp: true, allowedPorts: [8080], allowedHosts: [{ name: '127.0.0.1', allowInternal: true }] };
    expect(() => new Authenticator(accessTokens({ jwksUrl: 'http://127.0.0.1:8080/.well-known/jwks.json', outbound }))).not.toThrow();
  });

  // Without await, apiKeys was a promise, and every request with an API key got 500.
  it('rejects an API key store promise', () => {
    const settings = { apiKeys: Promise.resolve({ verify: async () => ({ outcome: 'invalid' }) }) } as unknown as AuthenticatorSettings;
    expect(() => new Authenticator(settings)).toThrow(RangeError);
    expect(() => new Authenticator(settings)).toThrow('apiKeys is a promise: pass the store itself, as in apiKeys: await openApiKeyStore({ dataDir }).');
  });

  it.each([{}, { verify: 'yes' }])('rejects the API key store %j', (apiKeys) => {
    const settings = { apiKeys } as unknown as AuthenticatorSettings;
    expect(() => new Authenticator(settings)).toThrow('apiKeys must be the store from await openApiKeyStore({ dataDir })');
  });

  it('rejects isGrantActive that is no function', () => {
    expect(() => new Authenticator(accessTokens({ isGrantActive: true }))).toThrow(
      'accessTokens.isGrantActive must be a function that returns a promise of whether a grant is active, got true.',
    );
  });

  it.each(['https://id.example.com/jwks', {}, { keys: 'none' }])('rejects the assertion key set %j', (jwks) => {
    expect(() => new Authenticator(identityAssertions({ jwks }))).toThrow(RangeError);
    expect(() => new Authenticator(identityAssertions({ jwks }))).toThrow('identityAssertions.jwks must be a JWK Set such as { keys: [...] }');
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
