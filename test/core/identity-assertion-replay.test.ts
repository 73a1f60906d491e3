import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { IdentityAssertionSigner, IdentityAssertionVerifier } from '../../src/core/identity-assertion.js';
import type { Identity } from '../../src/core/identity-headers.js';

const ISSUER = 'https://id.example.com';
const AUDIENCE = `${ISSUER}/api`;
const caller: Identity = { subject: 'alice', scopes: ['orders:read'], roles: [], clientId: 'app', credential: 'jwt' };

describe('identity assertion replay cache', () => {
  it('rejects a replay after the cache overflowed', async () => {
    const signer = new IdentityAssertionSigner({ seed: randomBytes(32), issuer: ISSUER, audience: AUDIENCE });
    const verifier = new IdentityAssertionVerifier({ issuer: ISSUER, audience: AUDIENCE, keys: await signer.publicJwks(), replayCacheSize: 3 });
    const sign = () => signer.sign(caller, { method: 'GET', target: '/orders', requestId: randomUUID() });

    const captured = await sign();
    await verifier.verify(captured, 'GET', '/orders');
    // Other callers' requests push the captured assertion's id out of the cache.
    for (let request = 0; request < 3; request += 1) {
      await verifier.verify(await sign(), 'GET', '/orders');
    }

    await expect(verifier.verify(captured, 'GET', '/orders')).rejects.toThrow('too old to be checked for replay');
  });

  it('accepts new assertions after the cache overflowed', async () => {
    const signer = new IdentityAssertionSigner({ seed: randomBytes(32), issuer: ISSUER, audience: AUDIENCE, lifetimeSeconds: 30 });
    const verifier = new IdentityAssertionVerifier({ issuer: ISSUER, audience: AUDIENCE, keys: await signer.publicJwks(), replayCacheSize: 2 });
    const sign = () => signer.sign(caller, { method: 'GET', target: '/orders', requestId: randomUUID() });
    const first = await sign();
    const second = await sign();
    await verifier.verify(first, 'GET', '/orders');
    await verifier.verify(second, 'GET', '/orders');

    // One second later, a new assertion expires after every forgotten one.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const verified = await verifier.verify(await sign(), 'GET', '/orders');

    expect(verified.identity.subject).toBe('alice');
    await expect(verifier.verify(first, 'GET', '/orders')).rejects.toThrow('too old to be checked for replay');
    await expect(verifier.verify(second, 'GET', '/orders')).rejects.toThrow('already used');
  });
});

describe('identity assertion upstream binding', () => {
  const request = { method: 'DELETE', target: '/items/5' };

  async function setup(upstream: string | undefined) {
    const signer = new IdentityAssertionSigner({ seed: randomBytes(32), issuer: ISSUER, audience: AUDIENCE });
    const verifier = new IdentityAssertionVerifier({ issuer: ISSUER, audience: AUDIENCE, keys: await signer.publicJwks(), upstream });
    const sign = (forUpstream: string | undefined) => signer.sign(caller, { ...request, requestId: randomUUID(), upstream: forUpstream });
    return { verifier, sign };
  }

  it('rejects an assertion for another upstream', async () => {
    const { verifier, sign } = await setup('billing');

    // The orders service received this assertion and sends it on to billing.
    const forOrders = await sign('orders');

    await expect(verifier.verify(forOrders, request.method, request.target)).rejects.toThrow('issued for another upstream service');
  });

  it('rejects an assertion without upstream', async () => {
    const { verifier, sign } = await setup('billing');

    await expect(verifier.verify(await sign(undefined), request.method, request.target)).rejects.toThrow('issued for another upstream service');
  });

  it('accepts an assertion for its upstream', async () => {
    const { verifier, sign } = await setup('billing');

    const verified = await verifier.verify(await sign('billing'), request.method, request.target);

    expect(verified.identity.subject).toBe('alice');
  });

  it('accepts any upstream without the setting', async () => {
    const { verifier, sign } = await setup(undefined);

    const verified = await verifier.verify(await sign('orders'), request.method, request.target);

    expect(verified.identity.subject).toBe('alice');
  });
});
