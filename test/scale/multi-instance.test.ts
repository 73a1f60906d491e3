import { randomUUID } from 'node:crypto';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { DEFAULT_REVOCATION_CHECK_TTL_MS } from '../../src/config/load.js';
import { AuditRepository } from '../../src/store/audit-repository.js';
import { createUser } from '../support/accounts.js';
import { waitPast } from '../support/clock.js';
import { authorize, callApi, publicClient } from '../support/oauth.js';
import { routeTo, startInstances, type TestInstances } from '../support/instances.js';
import type { TestServer } from '../support/server.js';

describe('three instances on shared PostgreSQL and Redis', () => {
  let cluster: TestInstances;

  beforeAll(async () => {
    cluster = await startInstances({ count: 3 });
  });

  afterAll(async () => {
    await cluster?.close();
  });

  it('report ready with both backends', async () => {
    for (const instance of cluster.instances) {
      const response = await fetch(`${instance.url}/readyz`);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ status: 'ready', backends: { postgres: 'up', redis: 'up', 'rate-limit store': 'up' } });
    }
  });

  it('sign in on one, redeem on another, refresh on a third', async () => {
    const [first, second, third] = cluster.instances;
    const alice = await createUser(first!, `alice_${randomUUID().slice(0, 6)}`);
    const config = await publicClient(first!);

    const { callbackUrl, codeVerifier, state } = await authorize(first!, config, alice);

    routeTo(config, second!);
    const tokens = await client.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: codeVerifier, expectedState: state });
    expect(tokens.refresh_token).toBeTypeOf('string');

    routeTo(config, third!);
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect((await callApi(third!, '/orders', refreshed.access_token)).status).toBe(200);

    // Short-lived state went to Redis; PostgreSQL holds only the long-lived models.
    const models = await first!.running.db.selectFrom('oidc_payloads').select('model').distinct().execute();
    expect(models.map((row) => row.model).sort()).toEqual(['Grant', 'RefreshToken']);

    // The code is single-use on every instance, not only on the one that redeemed it.
    routeTo(config, first!);
    await expect(
      client.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: codeVerifier, expectedState: state }),
    ).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('refuse a revoked grant on every other instance within a second', async () => {
    const [first, second, third] = cluster.instances;
    const bob = await createUser(first!, `bob_${randomUUID().slice(0, 6)}`);
    const config = await publicClient(first!);
    const { callbackUrl, codeVerifier, state } = await authorize(first!, config, bob);
    routeTo(config, first!);
    const tokens = await client.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: codeVerifier, expectedState: state });

    expect((await callApi(second!, '/orders', tokens.access_token)).status).toBe(200);
    expect((await callApi(third!, '/orders', tokens.access_token)).status).toBe(200);

    await client.tokenRevocation(config, tokens.refresh_token!);
    const revokedAt = Date.now();

    // Every grant check cached on these instances ran before the revocation
    // and is reused for at most DEFAULT_REVOCATION_CHECK_TTL_MS (one second),
    // so a request sent after that must fail however slow the machine is.
    await waitPast(revokedAt + DEFAULT_REVOCATION_CHECK_TTL_MS, 20);
    for (const instance of [second!, third!]) {
      expect((await callApi(instance, '/orders', tokens.access_token)).status).toBe(401);
    }
  });

  it('audit grants revoked by racing replays', async () => {
    const [first, second] = cluster.instances;
    const carol = await createUser(first!, `carol_${randomUUID().slice(0, 6)}`);
    const config = await publicClient(first!);
    const since = Date.now();
    const redeem = (instance: TestServer, callbackUrl: URL, codeVerifier: string) =>
      fetch(`${instance.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: callbackUrl.searchParams.get('code') ?? '',
          redirect_uri: first!.demoRedirectUri,
          code_verifier: codeVerifier,
          client_id: first!.demoClientId,
        }),
      });

    // Two instances that redeem one code at once both find it unused, so
    // most rounds reach the store's atomic consume, not oidc-provider's check.
    const rounds = 5;
    for (let round = 0; round < rounds; round += 1) {
      const { callbackUrl, codeVerifier } = await authorize(first!, config, carol);
      const responses = await Promise.all([redeem(first!, callbackUrl, codeVerifier), redeem(second!, callbackUrl, codeVerifier)]);
      expect(responses.map((response) => response.status).sort()).toEqual([200, 400]);
    }

    const revocations = await vi.waitFor(
      async () => {
        await Promise.all(cluster.instances.map((instance) => instance.running.observability.audit.flush()));
        const stored = await new AuditRepository(first!.running.db).query({ since, types: ['token.revoked'], limit: 100 });
        expect(stored).toHaveLength(rounds);
        return stored;
      },
      { timeout: 5000, interval: 100 },
    );
    for (const revocation of revocations) {
      expect(revocation).toMatchObject({ outcome: 'success', clientId: first!.demoClientId, reason: 'token_reuse' });
    }
  });
});

describe('API key revocation across two instances', () => {
  let cluster: TestInstances;

  beforeAll(async () => {
    // Lookups are reused for a minute, so only the broadcast can end them sooner.
    cluster = await startInstances({ count: 2, gateway: { revocationCheckTtlMs: 60_000 } });
  });

  afterAll(async () => {
    await cluster?.close();
  });

  it('ends keys on other instances', async () => {
    const [first, second] = cluster.instances;
    const carol = await createUser(first!, `carol_${randomUUID().slice(0, 6)}`);
    const config = await publicClient(first!);
    const { callbackUrl, codeVerifier, state } = await authorize(first!, config, carol);
    routeTo(config, first!);
    const tokens = await client.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: codeVerifier, expectedState: state });
    const json = { 'content-type': 'application/json' };
    const create = async (name: string) => {
      const response = await callApi(first!, '/keys', tokens.access_token, { method: 'POST', headers: json, body: JSON.stringify({ name, scopes: ['orders:read'] }) });
      expect(response.status).toBe(201);
      return (await response.json()) as { id: string; key: string };
    };
    const useOnSecond = (key: string) => fetch(`${second!.url}/api/orders`, { headers: { 'x-api-key': key } }).then((response) => response.status);
    const rejectedOnSecond = async (key: string) => {
      await vi.waitFor(async () => expect(await useOnSecond(key)).toBe(401), { timeout: 10_000, interval: 50 });
    };

    const revoked = await create('revoked');
    const rotated = await create('rotated');
    // The second instance caches both lookups for a minute.
    expect(await useOnSecond(revoked.key)).toBe(200);
    expect(await useOnSecond(rotated.key)).toBe(200);

    expect((await callApi(first!, `/keys/${revoked.id}`, tokens.access_token, { method: 'DELETE' })).status).toBe(204);
    await rejectedOnSecond(revoked.key);

    const rotation = await callApi(first!, `/keys/${rotated.id}/rotate`, tokens.access_token, { method: 'POST', headers: json, body: JSON.stringify({ grace: '0' }) });
    expect(rotation.status).toBe(201);
    await rejectedOnSecond(rotated.key);
  });
});

describe('global rate limit across three instances', () => {
  let cluster: TestInstances;
  const globalLimit = 30;

  beforeAll(async () => {
    // A policy name of its own gives this run counters no other run shares.
    const name = `global-${randomUUID().slice(0, 8)}`;
    cluster = await startInstances({
      count: 3,
      rateLimit: { global: { name, key: ['ip'], limit: globalLimit, period: '1h', onStoreFailure: 'closed' } },
    });
  });

  afterAll(async () => {
    await cluster?.close();
  });

  it('admits exactly the limit', async () => {
    const statuses: number[] = [];
    for (let round = 0; round < globalLimit; round += 1) {
      const batch = cluster.instances.map((instance) => fetch(`${instance.url}/healthz`).then((response) => response.status));
      statuses.push(...(await Promise.all(batch)));
    }

    expect(statuses.filter((status) => status === 200)).toHaveLength(globalLimit);
    expect(statuses.filter((status) => status === 429)).toHaveLength(globalLimit * 2);
  });
});
