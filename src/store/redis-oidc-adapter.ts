import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';

import type { RedisClient } from '../backends/redis.js';
import { epochSeconds } from './database.js';
import { replayedGrantError } from './replayed-grant.js';

/**
 * Marks a stored payload as consumed unless it already is. Returns 1 when
 * this call consumed it, 0 when it was consumed before, -1 when it does not
 * exist (expired or destroyed). One key only, so it runs on Redis Cluster.
 */
const CONSUME_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
return redis.call('HSETNX', KEYS[1], 'consumed', ARGV[1])
`;

/**
 * Stores a payload unless its key exists, and sets its lifetime in seconds.
 * Returns 1 when this call stored it, 0 when the key existed. Redis treats an
 * expired key as absent, so an expired entry does not block a new one.
 */
const INSERT_ONCE_SCRIPT = `
if redis.call('HSETNX', KEYS[1], 'payload', ARGV[1]) == 0 then
  return 0
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
`;

/** The client adds the deployment's `redisKeyPrefix` before this. */
const PREFIX = 'oidc';

/** Returns the key of the set that lists every Redis key issued under one grant. */
export function grantSetKey(grantId: string): string {
  return `${PREFIX}:grant:${grantId}`;
}

/**
 * Persists one oidc-provider model in Redis, each payload a hash that expires
 * with the payload. Every operation touches one key at a time (the index keys
 * are written separately), so the adapter also works on Redis Cluster.
 *
 * Keys follow the deployment's prefix. `oidc:<model>:<id>` contains
 * `payload` and `consumed`. `…:<model>:uid:<uid>` and
 * `…:<model>:user_code:<code>` point to an id. `oidc:grant:<grantId>` lists
 * the keys issued under a grant.
 */
export class RedisOidcAdapter implements Adapter {
  readonly #redis: RedisClient;
  readonly #model: string;
  readonly #revokeGrant: (grantId: string) => Promise<void>;

  /** `revokeGrant` deletes a whole grant when a code or refresh token is replayed. */
  constructor(redis: RedisClient, model: string, revokeGrant: (grantId: string) => Promise<void>) {
    this.#redis = redis;
    this.#model = model;
    this.#revokeGrant = revokeGrant;
    if (!('portcullisConsumePayload' in redis)) {
      redis.defineCommand('portcullisConsumePayload', { numberOfKeys: 1, lua: CONSUME_SCRIPT });
    }
    if (!('portcullisInsertPayloadOnce' in redis)) {
      redis.defineCommand('portcullisInsertPayloadOnce', { numberOfKeys: 1, lua: INSERT_ONCE_SCRIPT });
    }
  }

  #key(id: string): string {
    return `${PREFIX}:${this.#model}:${id}`;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    if (this.#model === 'ReplayDetection') {
      await this.#insertOnce(id, payload, expiresIn);
      return;
    }

    const key = this.#key(id);
    const transaction = this.#redis.multi().hset(key, 'payload', JSON.stringify(payload));
    if (expiresIn > 0) {
      transaction.expire(key, expiresIn);
    } else {
      transaction.persist(key);
    }
    await transaction.exec();

    const indexes: Array<[string, string | undefined]> = [
      [`${PREFIX}:${this.#model}:uid:${payload.uid}`, payload.uid],
      [`${PREFIX}:${this.#model}:user_code:${payload.userCode}`, payload.userCode],
    ];
    for (const [indexKey, value] of indexes) {
      if (value !== undefined) {
        await (expiresIn > 0 ? this.#redis.set(indexKey, id, 'EX', expiresIn) : this.#redis.set(indexKey, id));
      }
    }

    if (payload.grantId !== undefined) {
      const setKey = grantSetKey(payload.grantId);
      await this.#redis.sadd(setKey, key);
      if (expiresIn > 0) {
        // NX gives a new set its first expiry, and GT only ever lengthens it
        // (GT alone never applies to a key without one), so the set outlives every member.
        await this.#redis.expire(setKey, expiresIn, 'NX');
        await this.#redis.expire(setKey, expiresIn, 'GT');
      } else {
        await this.#redis.persist(setKey);
      }
    }
  }

  /**
   * Stores a client assertion's `jti` unless a live entry with the same id
   * exists. oidc-provider 9 calls find() and then saves, so two requests
   * racing with one assertion could both pass its check. The script lets
   * exactly one of them store the entry, and the other fails client
   * authentication.
   *
   * NOTE: oidc-provider also stores DPoP proof ids in this model. DPoP is
   * off, and if it is turned on, a replayed proof is still rejected but
   * with `invalid_client` in place of `invalid_dpop_proof`.
   */
  async #insertOnce(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    const insertOnce = (this.#redis as unknown as Record<string, (key: string, payload: string, lifetimeSeconds: number) => Promise<number>>)['portcullisInsertPayloadOnce'];
    // EXPIRE with 0 or less would delete the key at once, which lets the same assertion in again.
    const lifetimeSeconds = Math.max(1, Math.ceil(expiresIn));
    const outcome = Number(await insertOnce?.call(this.#redis, this.#key(id), JSON.stringify(payload), lifetimeSeconds));
    if (outcome !== 1) {
      throw new errors.InvalidClientAuth('the client assertion was used before, so sign a new one with a fresh jti');
    }
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const stored = await this.#redis.hgetall(this.#key(id));
    if (stored['payload'] === undefined) {
      return undefined;
    }

    const payload = JSON.parse(stored['payload']) as AdapterPayload;
    if (stored['consumed'] !== undefined) {
      payload.consumed = Number(stored['consumed']);
    }
    return payload;
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.#findByIndex('uid', uid, (payload) => payload.uid === uid);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.#findByIndex('user_code', userCode, (payload) => payload.userCode === userCode);
  }

  async #findByIndex(index: string, value: string, matches: (payload: AdapterPayload) => boolean): Promise<AdapterPayload | undefined> {
    const id = await this.#redis.get(`${PREFIX}:${this.#model}:${index}:${value}`);
    if (id === null) {
      return undefined;
    }

    const payload = await this.find(id);
    return payload !== undefined && matches(payload) ? payload : undefined;
  }

  /**
   * Marks a code or refresh token as used, atomically, so that of two racing
   * requests exactly one wins. The loser is a replay, which revokes the whole
   * grant (RFC 9700 section 4.14.2).
   */
  async consume(id: string): Promise<void> {
    const consume = (this.#redis as unknown as Record<string, (key: string, at: number) => Promise<number>>)['portcullisConsumePayload'];
    const outcome = Number(await consume?.call(this.#redis, this.#key(id), epochSeconds()));
    if (outcome === 1) {
      return;
    }

    if (outcome === 0) {
      const payload = await this.find(id);
      if (payload?.grantId !== undefined) {
        await this.#revokeGrant(payload.grantId);
        throw replayedGrantError(payload.grantId);
      }
    }

    throw replayedGrantError();
  }

  async destroy(id: string): Promise<void> {
    await this.#redis.del(this.#key(id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    const setKey = grantSetKey(grantId);
    const prefix = `${PREFIX}:${this.#model}:`;
    const members = (await this.#redis.smembers(setKey)).filter((key) => key.startsWith(prefix));
    for (const key of members) {
      await this.#redis.del(key);
      await this.#redis.srem(setKey, key);
    }
  }
}

/** Deletes every Redis key issued under a grant. */
export async function revokeGrantInRedis(redis: RedisClient, grantId: string): Promise<void> {
  const setKey = grantSetKey(grantId);
  for (const key of await redis.smembers(setKey)) {
    await redis.del(key);
  }
  await redis.del(setKey);
}
