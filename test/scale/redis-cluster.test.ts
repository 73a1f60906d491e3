import { randomUUID } from 'node:crypto';
import type { Cluster } from 'ioredis';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { connectRedis, type RedisClient } from '../../src/backends/redis.js';
import { RedisRateLimitStore } from '../../src/core/rate-limit/redis-store.js';
import type { LimitCheck } from '../../src/core/rate-limit/types.js';
import { RedisOidcAdapter, revokeGrantInRedis } from '../../src/store/redis-oidc-adapter.js';
import { createUser } from '../support/accounts.js';
import { routeTo, startInstances, type TestInstances } from '../support/instances.js';
import { authorize, callApi, publicClient } from '../support/oauth.js';
import { startRedisCluster, type TestRedisCluster } from '../support/redis-cluster.js';

function check(key: string, limit: number): LimitCheck {
  return { policy: 'test', kind: 'rate', subject: 'user', key, rate: { limit, periodMs: 3_600_000, burst: limit }, onStoreFailure: 'closed' };
}

describe('Redis Cluster of three masters', () => {
  let cluster: TestRedisCluster;
  let redis: RedisClient;
  let instances: TestInstances | undefined;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    redis = await connectRedis(cluster.url, { cluster: true });
  }, 60_000);

  afterAll(async () => {
    await instances?.close();
    redis?.disconnect();
    await cluster?.stop();
  });

  it('spreads keys over the masters', async () => {
    const masters = (redis as Cluster).nodes('master');
    expect(masters).toHaveLength(3);
  });

  it('rate-limits exactly across three clients', async () => {
    const clients = await Promise.all([1, 2, 3].map(() => connectRedis(cluster.url, { cluster: true })));
    const stores = clients.map((cluster) => new RedisRateLimitStore(cluster));
    try {
      const key = `exact-${randomUUID()}|test`;
      const decisions = await Promise.all(Array.from({ length: 300 }, (_unused, index) => stores[index % 3]!.consume([check(key, 50)])));
      expect(decisions.filter((decision) => decision.allowed)).toHaveLength(50);

      // Two consumers of one request sit in different hash slots.
      const both = await stores[0]!.consume([check(`ip=${randomUUID()}|a`, 5), check(`sub=${randomUUID()}|b`, 5)]);
      expect(both.allowed).toBe(true);
      expect(both.results).toHaveLength(2);
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });

  it('consumes codes once and revokes across slots', async () => {
    const revoked: string[] = [];
    const codes = new RedisOidcAdapter(redis, 'AuthorizationCode', async (grantId) => void revoked.push(grantId));
    const sessions = new RedisOidcAdapter(redis, 'Session', async () => undefined);
    const grantId = `grant-${randomUUID()}`;
    const code = randomUUID();
    await codes.upsert(code, { grantId }, 60);
    await sessions.upsert(randomUUID(), { uid: randomUUID() }, 60);
    const token = randomUUID();
    await new RedisOidcAdapter(redis, 'AccessToken', async () => undefined).upsert(token, { grantId }, 60);

    const outcomes = await Promise.allSettled([codes.consume(code), codes.consume(code)]);
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    expect(revoked).toEqual([grantId]);

    await revokeGrantInRedis(redis, grantId);
    expect(await codes.find(code)).toBeUndefined();
    expect(await new RedisOidcAdapter(redis, 'AccessToken', async () => undefined).find(token)).toBeUndefined();
  });

  it('carries a sign-in from one instance to another', async () => {
    // Test files run in parallel on two cores, where a first command to a
    // cluster node can take longer than the default 250 ms store timeout,
    // and the sign-in limit fails closed. Store timeouts have tests of their own.
    instances = await startInstances({ count: 2, redisUrl: cluster.url, redisCluster: true, rateLimit: { storeTimeoutMs: 2000 } });
    const [first, second] = instances.instances;
    const user = await createUser(first!, `cluster_${randomUUID().slice(0, 6)}`);
    const config = await publicClient(first!);
    const { callbackUrl, codeVerifier, state } = await authorize(first!, config, user);

    routeTo(config, second!);
    const tokens = await client.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: codeVerifier, expectedState: state });
    expect((await callApi(second!, '/orders', tokens.access_token)).status).toBe(200);
    expect((await fetch(`${first!.url}/readyz`)).status).toBe(200);
  });
});
