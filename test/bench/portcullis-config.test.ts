import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { writePortcullisConfig, type PortcullisVariant } from '../../bench/lib/portcullis.js';
import { loadConfig } from '../../src/config/load.js';

const BASE: PortcullisVariant = {
  name: 'memory',
  store: 'memory',
  redisUrl: 'redis://127.0.0.1:6379',
  tokenCache: true,
  validateRequests: true,
  identityAssertion: true,
  checkResponses: true,
};

describe('benchmark configuration', () => {
  let directory: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'portcullis-bench-config-'));
  });

  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it.each([
    ['default', BASE],
    ['redis', { ...BASE, name: 'redis', store: 'redis' as const }],
    ['unchecked', { ...BASE, name: 'unchecked', checkResponses: false, identityAssertion: false, tokenCache: false, validateRequests: false }],
  ])('loads the %s variant', async (_case, variant) => {
    const path = await writePortcullisConfig(directory, variant, 'http://127.0.0.1:9');

    const config = loadConfig({ config: path, dataDir: join(directory, 'data') }, {});

    expect(config.rateLimit.store).toBe(variant.store);
    expect(config.rateLimit.global.limit).toBeGreaterThanOrEqual(1_000_000);
  });
});
