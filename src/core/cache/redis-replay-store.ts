import type { Cluster, Redis } from 'ioredis';

import type { AssertionReplayStore } from '../identity-assertion.js';

/** Prefix of the Redis keys that record used assertion ids. */
const DEFAULT_KEY_PREFIX = 'portcullis:assertion:';

/**
 * Records used identity assertion ids in Redis, so that every instance of
 * a service rejects an assertion that any of them accepted. Each id is one
 * key, written with `SET NX PXAT` (Redis 6.2 or later), which Redis deletes
 * when the assertion expires.
 */
export class RedisAssertionReplayStore implements AssertionReplayStore {
  readonly #redis: Redis | Cluster;
  readonly #keyPrefix: string;

  constructor(redis: Redis | Cluster, options: { keyPrefix?: string } = {}) {
    this.#redis = redis;
    this.#keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
  }

  async use(id: string, expiresAt: number): Promise<boolean> {
    const reply = await this.#redis.set(`${this.#keyPrefix}${id}`, '1', 'PXAT', Math.ceil(expiresAt), 'NX');
    return reply === 'OK';
  }
}
