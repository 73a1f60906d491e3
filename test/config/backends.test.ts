import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

import { ConfigError, loadConfig } from '../../src/config/load.js';
import { parseDatabaseUrl } from '../../src/store/database-url.js';
import { writeConfigFile } from '../support/config-file.js';

describe('backend settings', () => {
  it('default to SQLite in the data directory', () => {
    const config = loadConfig({ dataDir: 'some/dir' }, {});
    expect(config.database).toBe(`sqlite:${resolve('some/dir', 'portcullis.sqlite')}`);
    expect(config.redis).toBeNull();
    expect(config.redisCluster).toBe(false);
    expect(config.redisKeyPrefix).toBe('portcullis:');
    expect(config.rateLimit.store).toBe('memory');
  });

  it('come from the environment', () => {
    const config = loadConfig(
      {},
      {
        PORTCULLIS_DATABASE_URL: 'postgres://portcullis@db.example:5432/portcullis',
        PORTCULLIS_REDIS_URL: 'redis://cache.example:6379',
        PORTCULLIS_REDIS_CLUSTER: 'true',
        PORTCULLIS_REDIS_KEY_PREFIX: 'billing-gw:',
      },
    );
    expect(config.database).toBe('postgres://portcullis@db.example:5432/portcullis');
    expect(config.redis).toBe('redis://cache.example:6379');
    expect(config.redisCluster).toBe(true);
    expect(config.redisKeyPrefix).toBe('billing-gw:');
  });

  it('reject a key prefix with a hash tag', async () => {
    const file = await writeConfigFile({ redisKeyPrefix: '{gw}:' });
    expect(() => loadConfig({ config: file }, {})).toThrow('redisKeyPrefix: must be 1 to 64 letters, digits, . _ : or -');
  });

  it('let flags win over the file', async () => {
    const file = await writeConfigFile({ database: 'sqlite:/tmp/from-file.sqlite', redis: 'redis://file.example:6379' });
    const config = loadConfig({ config: file, databaseUrl: 'postgres://flag.example/portcullis' }, {});
    expect(config.database).toBe('postgres://flag.example/portcullis');
    expect(config.redis).toBe('redis://file.example:6379');
  });

  it('move the rate-limit counters to Redis', async () => {
    const file = await writeConfigFile({ rateLimit: { store: 'memory', redisUrl: 'redis://other.example:6379' } });
    const config = loadConfig({ config: file, redisUrl: 'redis://shared.example:6379' }, {});
    expect(config.rateLimit.store).toBe('redis');
    expect(config.rateLimit.redisUrl).toBe('redis://shared.example:6379');
  });

  it('reject unknown schemes by option name', () => {
    for (const [overrides, message] of [
      [{ databaseUrl: 'mysql://db.example/portcullis' }, '--database-url: must be sqlite:<file> or a postgres:// or postgresql:// URL'],
      [{ redisUrl: 'memcached://cache.example' }, '--redis-url: must be a redis:// or rediss:// URL'],
    ] as const) {
      let problems: string[] = [];
      try {
        loadConfig(overrides, {});
      } catch (error) {
        problems = (error as ConfigError).problems;
      }
      expect(problems, problems.join('\n')).toContain(message);
    }
  });

  it('parse database URLs', () => {
    expect(parseDatabaseUrl('sqlite:relative.sqlite')).toEqual({ dialect: 'sqlite', path: resolve('relative.sqlite') });
    expect(parseDatabaseUrl('postgresql://db.example/portcullis')).toEqual({ dialect: 'postgres', url: 'postgresql://db.example/portcullis' });
    expect(() => parseDatabaseUrl('sqlite:')).toThrow("must name a file after 'sqlite:'");
    expect(() => parseDatabaseUrl('postgres://')).toThrow('is not a valid PostgreSQL URL');
  });
});
