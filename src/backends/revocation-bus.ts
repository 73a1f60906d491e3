import type { Logger } from '../http/logger.js';
import { waitUntilReady, type RedisClient } from './redis.js';

/** How long the start waits for the subscriber connection, in milliseconds. */
const SUBSCRIBE_TIMEOUT_MS = 3000;

/**
 * Returns the Redis pub/sub channel on which instances announce revoked
 * grants and ended API keys. Channels are not keys, so the client does
 * not prefix them itself.
 */
export function revocationChannel(keyPrefix: string): string {
  return `${keyPrefix}revocations`;
}

/** A grant revoked, or an API key revoked or rotated, whose cached checks every instance drops. */
export type Revocation = { kind: 'grant'; id: string } | { kind: 'apiKey'; id: string };

/** Returns the message of a revocation. A grant keeps the `grantId` form that instances have always sent. */
function messageOf(revocation: Revocation): string {
  return JSON.stringify(revocation.kind === 'grant' ? { grantId: revocation.id } : { apiKeyId: revocation.id });
}

function parseMessage(text: string): Revocation | undefined {
  try {
    const message = JSON.parse(text) as { grantId?: unknown; apiKeyId?: unknown };
    if (typeof message.grantId === 'string') {
      return { kind: 'grant', id: message.grantId };
    }
    return typeof message.apiKeyId === 'string' ? { kind: 'apiKey', id: message.apiKeyId } : undefined;
  } catch {
    // A malformed message is ignored.
    return undefined;
  }
}

/**
 * Tells every instance that a grant was revoked, or an API key revoked or
 * rotated, so each drops it from its caches at once.
 *
 * Without Redis it reaches only this instance. Delivery is best effort
 * (Redis pub/sub does not store messages), which is safe because a missed
 * message only lets a cache return a stale result until its entry expires.
 */
export class RevocationBus {
  readonly #onRevoked: (revocation: Revocation) => void;
  readonly #redis: RedisClient | null;
  readonly #logger: Logger;
  readonly #channel: string;
  #subscriber: RedisClient | undefined;

  /** `onRevoked` runs for every revocation on this or, with Redis, any other instance. */
  constructor(onRevoked: (revocation: Revocation) => void, redis: RedisClient | null, logger: Logger, keyPrefix: string) {
    this.#onRevoked = onRevoked;
    this.#redis = redis;
    this.#logger = logger;
    this.#channel = revocationChannel(keyPrefix);
  }

  /** Subscribes to the channel, so revocations on other instances reach this one. */
  async start(): Promise<void> {
    if (this.#redis === null) {
      return;
    }

    // A connection in subscriber mode can run no other command, so it is a separate one.
    const subscriber = this.#redis.duplicate();
    subscriber.on('error', () => {
      // The shared connection reports Redis outages; this one reconnects and resubscribes by itself.
    });
    subscriber.on('message', (_channel: string, text: string) => {
      const revocation = parseMessage(text);
      if (revocation !== undefined) {
        this.#onRevoked(revocation);
      }
    });
    this.#subscriber = subscriber;

    const ready = await waitUntilReady(subscriber, SUBSCRIBE_TIMEOUT_MS);
    if (ready !== true) {
      throw ready;
    }
    await subscriber.subscribe(this.#channel);
  }

  /** Runs `onRevoked` here and announces the revocation to the other instances. */
  async publish(revocation: Revocation): Promise<void> {
    this.#onRevoked(revocation);
    if (this.#redis === null) {
      return;
    }

    try {
      await this.#redis.publish(this.#channel, messageOf(revocation));
    } catch (error) {
      // The other instances' cache entries expire on their own.
      this.#logger.warn({ err: error }, 'revocation broadcast failed; other instances notice within the cache lifetime');
    }
  }

  close(): void {
    this.#subscriber?.disconnect();
  }
}
