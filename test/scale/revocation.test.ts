import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { connectRedis, type RedisClient } from '../../src/backends/redis.js';
import { RevocationBus, revocationChannel, type Revocation } from '../../src/backends/revocation-bus.js';
import { createLogger } from '../../src/http/logger.js';
import { REDIS_KEY_PREFIX, REDIS_URL } from '../support/config-file.js';

/** How long a published message may take to arrive, with time to spare on a loaded machine. */
const DELIVERY_WITHIN_MS = 5000;

describe('revocation broadcast', () => {
  const logger = createLogger('silent');
  let publisherRedis: RedisClient;
  let subscriberRedis: RedisClient;
  const buses: RevocationBus[] = [];

  beforeAll(async () => {
    publisherRedis = await connectRedis(REDIS_URL);
    subscriberRedis = await connectRedis(REDIS_URL);
  });

  afterAll(() => {
    for (const bus of buses) {
      bus.close();
    }
    publisherRedis?.disconnect();
    subscriberRedis?.disconnect();
  });

  it('reaches the other instance and this one', async () => {
    const local: string[] = [];
    const remote: string[] = [];
    const publisher = new RevocationBus((revocation) => local.push(revocation.id), publisherRedis, logger, REDIS_KEY_PREFIX);
    const subscriber = new RevocationBus((revocation) => remote.push(revocation.id), subscriberRedis, logger, REDIS_KEY_PREFIX);
    buses.push(publisher, subscriber);
    await subscriber.start();

    const grantId = randomUUID();
    await publisher.publish({ kind: 'grant', id: grantId });
    expect(local).toEqual([grantId]);

    const deadline = Date.now() + DELIVERY_WITHIN_MS;
    while (!remote.includes(grantId) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(remote).toContain(grantId);
  });

  it('carries ended API keys', async () => {
    const remote: Revocation[] = [];
    const publisher = new RevocationBus(() => undefined, publisherRedis, logger, REDIS_KEY_PREFIX);
    const subscriber = new RevocationBus((revocation) => remote.push(revocation), subscriberRedis, logger, REDIS_KEY_PREFIX);
    buses.push(publisher, subscriber);
    await subscriber.start();

    const keyId = randomUUID();
    await publisher.publish({ kind: 'apiKey', id: keyId });

    const deadline = Date.now() + DELIVERY_WITHIN_MS;
    while (!remote.some((revocation) => revocation.id === keyId) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(remote.filter((revocation) => revocation.id === keyId)).toEqual([{ kind: 'apiKey', id: keyId }]);
  });

  it('ignores malformed messages', async () => {
    const received: string[] = [];
    const subscriber = new RevocationBus((revocation) => received.push(revocation.id), subscriberRedis, logger, REDIS_KEY_PREFIX);
    buses.push(subscriber);
    await subscriber.start();

    await publisherRedis.publish(revocationChannel(REDIS_KEY_PREFIX), 'not json');
    await publisherRedis.publish(revocationChannel(REDIS_KEY_PREFIX), JSON.stringify({ grantId: 42 }));
    const marker = randomUUID();
    await publisherRedis.publish(revocationChannel(REDIS_KEY_PREFIX), JSON.stringify({ grantId: marker }));

    const deadline = Date.now() + DELIVERY_WITHIN_MS;
    while (!received.includes(marker) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(received.filter((grantId) => grantId === marker)).toHaveLength(1);
    expect(received.every((grantId) => typeof grantId === 'string')).toBe(true);
  });

  it('ignores other deployments on the same Redis', async () => {
    const received: string[] = [];
    const subscriber = new RevocationBus((revocation) => received.push(revocation.id), subscriberRedis, logger, REDIS_KEY_PREFIX);
    const otherDeployment = new RevocationBus(() => undefined, publisherRedis, logger, `other-${REDIS_KEY_PREFIX}`);
    buses.push(subscriber, otherDeployment);
    await subscriber.start();

    await otherDeployment.publish({ kind: 'grant', id: randomUUID() });
    const marker = randomUUID();
    await publisherRedis.publish(revocationChannel(REDIS_KEY_PREFIX), JSON.stringify({ grantId: marker }));

    const deadline = Date.now() + DELIVERY_WITHIN_MS;
    while (!received.includes(marker) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(received).toEqual([marker]);
  });
});
