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
import type { TestServer } from '../support/server.js';

function check(key: string, limit: number): LimitCheck {
  return { policy: 'test', kind: 'rate', subject: 'user', key, rate: { limit, periodMs: 3_600_000, burst: limit }, onStoreFailure: 'closed' };
}

/**
 * How long an instance may take to reach every backend after it started, in
 * milliseconds. The cluster client retries with a delay that grows to 2 s,
 * and on a loaded machine its first attempts can time out.
 */
const READY_WITHIN_MS = 45_000;

async function waitUntilReady(instance: TestServer): Promise<void> {
  const deadline = Date.now() + READY_WITHIN_MS;
  let status = 0;
  while (Date.now() < deadline) {
    status = (await fetch(`${instance.url}/readyz`)).status;
    if (status === 200) {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${instance.url} was not ready within ${READY_WITHIN_MS} ms (last /readyz status ${status})\n${storeLogLines(instance).join('\n')}`);
}

/** Returns the instance's log lines about Redis and the rate-limit store, for a failure message. */
function storeLogLines(instance: TestServer): string[] {
  return instance.logs.filter((line) => /redis|rate-limit store|readiness/i.test(line)).slice(-20);
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
    instances = await startInstances({ count: 2, redisUrl: cluster.url, redisCluster: true });
    const [first, second] = instances.instances;
    // A load balancer sends requests only to ready instances. Until the
    // cluster client is ready, the sign-in limit fails closed with 503.
    await Promise.all([waitUntilReady(first!), waitUntilReady(second!)]);

    const user = await createUser(first!, `cluster_${randomUUID().slice(0, 6)}`);
    const config = await publicClient(first!);
    const { callbackUrl, codeVerifier, state } = await authorize(first!, config, user).catch((error: unknown) => {
      throw new Error(`${String(error)}\nrate-limit store log lines:\n${storeLogLines(first!).join('\n')}`);
    });

    routeTo(config, second!);
    const tokens = await client.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: codeVerifier, expectedState: state });
    expect((await callApi(second!, '/orders', tokens.access_token)).status).toBe(200);
    expect((await fetch(`${first!.url}/readyz`)).status).toBe(200);
  }, READY_WITHIN_MS + 30_000);
});
