import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { connectRedis, type RedisClient } from '../../src/backends/redis.js';
import { RevocationBus } from '../../src/backends/revocation-bus.js';
import { createLogger } from '../../src/http/logger.js';
import { REDIS_URL } from '../support/config-file.js';

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
    const publisher = new RevocationBus((grantId) => local.push(grantId), publisherRedis, logger);
    const subscriber = new RevocationBus((grantId) => remote.push(grantId), subscriberRedis, logger);
    buses.push(publisher, subscriber);
    await subscriber.start();

    const grantId = randomUUID();
    await publisher.publish(grantId);
    expect(local).toEqual([grantId]);

    const deadline = Date.now() + 1000;
    while (!remote.includes(grantId) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(remote).toContain(grantId);
  });

  it('ignores malformed messages', async () => {
    const received: string[] = [];
    const subscriber = new RevocationBus((grantId) => received.push(grantId), subscriberRedis, logger);
    buses.push(subscriber);
    await subscriber.start();

    await publisherRedis.publish('portcullis:revocations', 'not json');
    await publisherRedis.publish('portcullis:revocations', JSON.stringify({ grantId: 42 }));
    const marker = randomUUID();
    await publisherRedis.publish('portcullis:revocations', JSON.stringify({ grantId: marker }));

    const deadline = Date.now() + 1000;
    while (!received.includes(marker) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(received.filter((grantId) => grantId === marker)).toHaveLength(1);
    expect(received.every((grantId) => typeof grantId === 'string')).toBe(true);
  });
});
