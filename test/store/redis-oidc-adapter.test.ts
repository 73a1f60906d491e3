import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { connectRedis, type RedisClient } from '../../src/backends/redis.js';
import { BackendUnavailableError } from '../../src/backends/backend-error.js';
import { RedisOidcAdapter, grantSetKey, revokeGrantInRedis } from '../../src/store/redis-oidc-adapter.js';
import { REDIS_KEY_PREFIX, REDIS_URL } from '../support/config-file.js';
import { freePort } from '../support/server.js';

describe('Redis oidc-provider adapter', () => {
  let redis: RedisClient;
  const revoked: string[] = [];
  const adapter = (model: string) => new RedisOidcAdapter(redis, model, async (grantId) => void revoked.push(grantId));

  beforeAll(async () => {
    redis = await connectRedis(REDIS_URL, { keyPrefix: REDIS_KEY_PREFIX });
  });

  afterAll(() => {
    redis?.disconnect();
  });

  it('stores payloads with their lifetime', async () => {
    const id = randomUUID();
    await adapter('Session').upsert(id, { uid: `uid-${id}`, accountId: 'a' }, 30);

    expect((await adapter('Session').find(id))?.accountId).toBe('a');
    expect((await adapter('Session').findByUid(`uid-${id}`))?.accountId).toBe('a');
    const ttl = await redis.ttl(`oidc:Session:${id}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(30);

    await adapter('Session').destroy(id);
    expect(await adapter('Session').find(id)).toBeUndefined();
    expect(await adapter('Session').findByUid(`uid-${id}`)).toBeUndefined();
  });

  it('lets one consume win and revokes the grant on replay', async () => {
    const id = randomUUID();
    const grantId = `grant-${id}`;
    await adapter('AuthorizationCode').upsert(id, { grantId }, 60);

    const outcomes = await Promise.allSettled([adapter('AuthorizationCode').consume(id), adapter('AuthorizationCode').consume(id)]);
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    expect(revoked).toContain(grantId);
    expect((await adapter('AuthorizationCode').find(id))?.consumed).toBeTypeOf('number');
  });

  it('stores a replay detection entry once', async () => {
    const id = randomUUID();
    const outcomes = await Promise.allSettled([
      adapter('ReplayDetection').upsert(id, { iss: 'c' }, 60),
      adapter('ReplayDetection').upsert(id, { iss: 'c' }, 60),
      adapter('ReplayDetection').upsert(id, { iss: 'c' }, 60),
    ]);
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    expect(outcomes.find((outcome) => outcome.status === 'rejected')).toMatchObject({ reason: { error: 'invalid_client' } });
    expect((await adapter('ReplayDetection').find(id))?.['iss']).toBe('c');
    const ttl = await redis.ttl(`oidc:ReplayDetection:${id}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60);
  });

  it('rejects consuming what does not exist', async () => {
    const id = randomUUID();
    await expect(adapter('AuthorizationCode').consume(id)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await redis.exists(`oidc:AuthorizationCode:${id}`)).toBe(0);
  });

  it('revokes by grant id, model by model and all at once', async () => {
    const grantId = `grant-${randomUUID()}`;
    const code = randomUUID();
    const session = randomUUID();
    await adapter('AuthorizationCode').upsert(code, { grantId }, 60);
    await adapter('AccessToken').upsert(session, { grantId }, 600);

    await adapter('AuthorizationCode').revokeByGrantId(grantId);
    expect(await adapter('AuthorizationCode').find(code)).toBeUndefined();
    expect(await adapter('AccessToken').find(session)).toBeDefined();
    expect(await redis.ttl(grantSetKey(grantId))).toBeGreaterThan(60);

    await revokeGrantInRedis(redis, grantId);
    expect(await adapter('AccessToken').find(session)).toBeUndefined();
    expect(await redis.exists(grantSetKey(grantId))).toBe(0);
  });

  it('names Redis and its address when it is down at start', async () => {
    const port = await freePort();
    const connecting = connectRedis(`redis://:s3cret-pass@127.0.0.1:${port}`);
    await expect(connecting).rejects.toThrow(BackendUnavailableError);
    await expect(connecting).rejects.toThrow(`Redis at redis://:***@127.0.0.1:${port} is unreachable: `);
    await expect(connecting).rejects.not.toThrow(/s3cret/);
  });
});
