import type { Logger } from '../http/logger.js';
import type { ActiveCache, RevocableKind } from './active-cache.js';
import { waitUntilReady, type RedisClient } from './redis.js';

/** How long the start waits for the subscriber connection, in milliseconds. */
const SUBSCRIBE_TIMEOUT_MS = 3000;

/** The Redis pub/sub channel on which instances announce revocations. */
export const REVOCATION_CHANNEL = 'portcullis:revocations';

interface RevocationMessage {
  kind: RevocableKind;
  id: string;
}

function parseMessage(text: string): RevocationMessage | undefined {
  try {
    const message = JSON.parse(text) as Partial<RevocationMessage>;
    if ((message.kind === 'grant' || message.kind === 'client') && typeof message.id === 'string') {
      return { kind: message.kind, id: message.id };
    }
  } catch {
    // Falls through to undefined: a malformed message is ignored.
  }
  return undefined;
}

/**
 * Tells every instance's ActiveCache that a grant or client was revoked.
 *
 * Without Redis it clears only this instance's cache. Delivery is best
 * effort (Redis pub/sub does not store messages), which is safe because a
 * missed message only lets the cache answer until its entry expires.
 */
export class RevocationBus {
  readonly #cache: ActiveCache;
  readonly #redis: RedisClient | null;
  readonly #logger: Logger;
  #subscriber: RedisClient | undefined;

  constructor(cache: ActiveCache, redis: RedisClient | null, logger: Logger) {
    this.#cache = cache;
    this.#redis = redis;
    this.#logger = logger;
  }

  /** Subscribes to the channel, so revocations on other instances reach this cache. */
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
      const message = parseMessage(text);
      if (message !== undefined) {
        this.#cache.invalidate(message.kind, message.id);
      }
    });
    this.#subscriber = subscriber;

    const ready = await waitUntilReady(subscriber, SUBSCRIBE_TIMEOUT_MS);
    if (ready !== true) {
      throw ready;
    }
    await subscriber.subscribe(REVOCATION_CHANNEL);
  }

  /** Clears the entry here and announces the revocation to the other instances. */
  async publish(kind: RevocableKind, id: string): Promise<void> {
    this.#cache.invalidate(kind, id);
    if (this.#redis === null) {
      return;
    }

    try {
      await this.#redis.publish(REVOCATION_CHANNEL, JSON.stringify({ kind, id }));
    } catch (error) {
      // The other instances' cache entries expire on their own.
      this.#logger.warn({ err: error, kind }, 'revocation broadcast failed; other instances notice within the cache lifetime');
    }
  }

  close(): void {
    this.#subscriber?.disconnect();
  }
}
