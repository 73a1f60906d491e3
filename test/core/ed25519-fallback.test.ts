import { randomBytes, verify } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';

// The addon fails to load, as on a platform without a prebuilt one.
vi.mock('node:module', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:module')>();
  return {
    ...actual,
    createRequire: () => () => {
      throw new Error('No native build was found for this platform');
    },
  };
});

const { ed25519KeyFromSeed, libsodiumFailure, preferredEd25519Implementation } = await import('../../src/core/ed25519.js');
const { IdentityAssertionSigner, IdentityAssertionVerifier } = await import('../../src/core/identity-assertion.js');

describe('Ed25519 without sodium-native', () => {
  it('falls back to node:crypto', () => {
    const key = ed25519KeyFromSeed(randomBytes(32));
    const message = Buffer.from('order 42');

    expect(preferredEd25519Implementation()).toBe('node:crypto');
    expect(key.implementation).toBe('node:crypto');
    expect(verify(null, message, key.publicKey, key.sign(message))).toBe(true);
  });

  it('keeps the load error', () => {
    preferredEd25519Implementation();

    expect(libsodiumFailure()?.message).toBe('No native build was found for this platform');
  });

  it('rejects an explicit libsodium request', () => {
    const request = () => ed25519KeyFromSeed(randomBytes(32), 'libsodium');

    expect(request).toThrow(`libsodium was requested, but it is not available on ${process.platform}-${process.arch}.`);
    expect(request).toThrow(expect.objectContaining({ cause: expect.objectContaining({ message: 'No native build was found for this platform' }) }));
  });

  it('signs identity assertions with node:crypto', async () => {
    const options = { issuer: 'https://gateway.example.test', audience: 'https://gateway.example.test/api' };
    const signer = new IdentityAssertionSigner({ ...options, seed: randomBytes(32) });
    const verifier = new IdentityAssertionVerifier({ ...options, keys: await signer.publicJwks() });
    const identity = { subject: 'alice', scopes: ['orders:read'], roles: [], clientId: 'app', credential: 'jwt' as const };

    const assertion = await signer.sign(identity, { method: 'GET', target: '/orders', requestId: 'request-1' });

    expect(signer.implementation).toBe('node:crypto');
    expect((await verifier.verify(assertion, 'GET', '/orders')).identity.subject).toBe('alice');
  });
});

describe('gateway start without sodium-native', () => {
  it('logs the fallback and its reason', async () => {
    const { startTestServer } = await import('../support/server.js');
    const server = await startTestServer();

    try {
      const entries = server.logs.map((line) => JSON.parse(line) as { msg?: string; identityAssertion?: unknown; err?: { message?: string } });
      const fallback = entries.find((entry) => entry.msg?.startsWith('libsodium is not available'));

      expect(fallback?.err?.message).toBe('No native build was found for this platform');
      expect(entries.find((entry) => entry.msg === 'gateway listening')?.identityAssertion).toBe('node:crypto');
    } finally {
      await server.close();
    }
  });
});
