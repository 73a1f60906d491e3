import type { Logger } from '../http/logger.js';
import { waitUntilReady, type RedisClient } from './redis.js';

/** How long the start waits for the subscriber connection, in milliseconds. */
const SUBSCRIBE_TIMEOUT_MS = 3000;

/** The Redis pub/sub channel on which instances announce revoked grants. */
export const REVOCATION_CHANNEL = 'portcullis:revocations';

function parseMessage(text: string): string | undefined {
  try {
    const message = JSON.parse(text) as { grantId?: unknown };
    return typeof message.grantId === 'string' ? message.grantId : undefined;
  } catch {
    // A malformed message is ignored.
    return undefined;
  }
}

/**
 * Tells every instance that a grant was revoked, so each drops it from its
 * cache of active grants at once.
 *
 * Without Redis it reaches only this instance. Delivery is best effort
 * (Redis pub/sub does not store messages), which is safe because a missed
 * message only lets a cache return a stale result until its entry expires.
 */
export class RevocationBus {
  readonly #onRevoked: (grantId: string) => void;
  readonly #redis: RedisClient | null;
  readonly #logger: Logger;
  #subscriber: RedisClient | undefined;

  /** `onRevoked` runs for every grant revoked on this or, with Redis, any other instance. */
  constructor(onRevoked: (grantId: string) => void, redis: RedisClient | null, logger: Logger) {
    this.#onRevoked = onRevoked;
    this.#redis = redis;
    this.#logger = logger;
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
      const grantId = parseMessage(text);
      if (grantId !== undefined) {
        this.#onRevoked(grantId);
      }
    });
    this.#subscriber = subscriber;

    const ready = await waitUntilReady(subscriber, SUBSCRIBE_TIMEOUT_MS);
    if (ready !== true) {
      throw ready;
    }
    await subscriber.subscribe(REVOCATION_CHANNEL);
  }

  /** Runs `onRevoked` here and announces the revocation to the other instances. */
  async publish(grantId: string): Promise<void> {
    this.#onRevoked(grantId);
    if (this.#redis === null) {
      return;
    }

    try {
      await this.#redis.publish(REVOCATION_CHANNEL, JSON.stringify({ grantId }));
    } catch (error) {
      // The other instances' cache entries expire on their own.
      this.#logger.warn({ err: error }, 'revocation broadcast failed; other instances notice within the cache lifetime');
    }
  }

  close(): void {
    this.#subscriber?.disconnect();
  }
}
