import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startInstances, type TestInstances } from '../support/instances.js';

describe('instances that start at once on an empty PostgreSQL schema', () => {
  let cluster: TestInstances;

  beforeAll(async () => {
    cluster = await startInstances({ count: 3, redisUrl: null, startAtOnce: true });
  });

  afterAll(async () => {
    await cluster?.close();
  });

  it('all start', () => {
    expect(cluster.instances).toHaveLength(3);
  });

  it('create one admin account', async () => {
    const db = cluster.instances[0]!.running.db;
    const admins = await db.selectFrom('accounts').select('username').where('username', '=', 'admin').execute();

    expect(admins).toHaveLength(1);
    expect(cluster.bootstraps.filter((result) => result.admin !== undefined)).toHaveLength(1);
  });

  it('create one signing key per algorithm', async () => {
    const db = cluster.instances[0]!.running.db;
    const keys = await db.selectFrom('signing_keys').select('alg').orderBy('alg').execute();

    expect(keys.map((key) => key.alg)).toEqual(['ES256', 'RS256']);
    expect(cluster.bootstraps.filter((result) => result.signingKeysCreated.length > 0)).toHaveLength(1);
  });
});
