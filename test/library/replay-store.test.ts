import { randomBytes, randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';

import { IdentityAssertionSigner, IdentityAssertionVerifier } from '../../src/core/identity-assertion.js';
import type { Identity } from '../../src/core/identity-headers.js';
import { portcullis } from '../../src/library/fastify.js';
import { RedisAssertionReplayStore } from '../../src/library/index.js';
import { REDIS_URL } from '../support/config-file.js';

const ISSUER = 'https://id.example.com';
const AUDIENCE = `${ISSUER}/api`;
const caller: Identity = { subject: 'alice', scopes: ['orders:read'], roles: [], clientId: 'app', credential: 'jwt' };

describe('shared replay store', () => {
  const signer = new IdentityAssertionSigner({ seed: randomBytes(32), issuer: ISSUER, audience: AUDIENCE });
  const clients: Redis[] = [];

  function redisClient(): Redis {
    const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    clients.push(client);
    return client;
  }

  /** Returns a client of a port where no Redis listens, whose commands fail at once instead of waiting for a connection. */
  function unreachableClient(): Redis {
    const client = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: 0, enableOfflineQueue: false, lazyConnect: true });
    client.on('error', () => undefined);
    clients.push(client);
    return client;
  }

  afterAll(() => {
    for (const client of clients) {
      client.disconnect();
    }
  });

  it('rejects a replay on another instance', async () => {
    const keys = await signer.publicJwks();
    // Two instances of one service, each with its own Redis connection.
    const connections = [redisClient(), redisClient()];
    await Promise.all(connections.map((client) => client.ping()));
    const keyPrefix = `test:assertion:${randomUUID()}:`;
    const [first, second] = connections.map(
      (client) => new IdentityAssertionVerifier({ issuer: ISSUER, audience: AUDIENCE, keys, replayStore: new RedisAssertionReplayStore(client, { keyPrefix }) }),
    );
    const assertion = await signer.sign(caller, { method: 'GET', target: '/orders', requestId: randomUUID() });

    expect((await first!.verify(assertion, 'GET', '/orders')).identity.subject).toBe('alice');
    await expect(second!.verify(assertion, 'GET', '/orders')).rejects.toThrow('already used');
    await expect(first!.verify(assertion, 'GET', '/orders')).rejects.toThrow('already used');
  });

  it('answers 503 without Redis', async () => {
    const unreachable = unreachableClient();
    const app = Fastify();
    await app.register(portcullis, {
      identityAssertions: { issuer: ISSUER, audience: AUDIENCE, jwks: await signer.publicJwks(), replayStore: new RedisAssertionReplayStore(unreachable) },
    });
    app.get('/orders', async () => ({ ok: true }));

    const assertion = await signer.sign(caller, { method: 'GET', target: '/orders', requestId: randomUUID() });
    const response = await app.inject({ url: '/orders', headers: { 'x-portcullis-identity': assertion } });

    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe('5');
    expect(response.json<{ detail: string }>().detail).toBe('The record of used identity assertions could not be reached. Retry shortly.');
    await app.close();
  });
});
