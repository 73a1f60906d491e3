import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { defaultRateLimits } from '../../src/config/load.js';
import { REDIS_URL, writeConfigFile } from '../support/config-file.js';
import { startTestServer, type TestServer } from '../support/server.js';

describe('health endpoints on SQLite', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server.close();
  });

  it('reports liveness', async () => {
    const response = await fetch(`${server.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('reports readiness of the database', async () => {
    const response = await fetch(`${server.url}/readyz`);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.json()).toEqual({ status: 'ready', backends: { sqlite: 'up' } });
  });

  it('warns that it serves one instance only', () => {
    const warning = server.logs.find((line) => line.includes('no redis setting'));
    expect(warning).toBeDefined();
    expect(JSON.parse(warning!)).toMatchObject({ level: 40 });
  });
});

describe('rate-limit counters in Redis without the redis setting', () => {
  let server: TestServer;

  beforeAll(async () => {
    const defaults = defaultRateLimits();
    const config = await writeConfigFile({
      rateLimit: { store: 'redis', redisUrl: REDIS_URL, signIn: { ...defaults.signIn, limit: 100_000, burst: 100_000 } },
    });
    server = await startTestServer({ config });
  });

  afterAll(async () => {
    await server?.close();
  });

  it('warns only about sessions', () => {
    const warning = server.logs.find((line) => line.includes('no redis setting'));

    expect(warning).toBeDefined();
    expect(warning).toContain('sessions and interactions stay in this instance');
    expect(warning).not.toContain('rate-limit counters');
  });
});
