import { lookup } from 'node:dns/promises';

/**
 * Resolves a host name to every address it has, as IP address text. The
 * signal aborts when the request's deadline passes, so a resolver can stop
 * waiting for work it has not started yet.
 */
export type Resolver = (hostname: string, signal?: AbortSignal) => Promise<readonly string[]>;

/**
 * Maximum number of system look-ups that run at once. Node.js runs
 * dns.lookup as a blocking getaddrinfo call on libuv's thread pool (Node.js
 * DNS documentation, "Implementation considerations"), which has 4 threads
 * unless UV_THREADPOOL_SIZE sets another number, and offers no way to
 * cancel it. A name whose DNS server never answers occupies a thread until the
 * system resolver gives up, long after the request's deadline. The limit
 * leaves the other threads to file access, crypto and password hashing.
 */
const MAX_SYSTEM_LOOKUPS = 2;

/** A counting semaphore whose waiters leave the queue when their signal aborts. */
class LookupSlots {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(size: number) {
    this.#free = size;
  }

  async acquire(signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    if (this.#free > 0) {
      this.#free -= 1;
      return;
    }

    await new Promise<void>((resolve, reject) => {
      const grant = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        this.#waiting.splice(this.#waiting.indexOf(grant), 1);
        reject(signal?.reason);
      };
      this.#waiting.push(grant);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  release(): void {
    const next = this.#waiting.shift();
    if (next === undefined) {
      this.#free += 1;
    } else {
      next();
    }
  }
}

const systemLookupSlots = new LookupSlots(MAX_SYSTEM_LOOKUPS);

/**
 * Resolves through the operating system, like Node's own connections do, and
 * returns all addresses. At most {@link MAX_SYSTEM_LOOKUPS} look-ups run at
 * once in the process. Further ones wait for a free slot, and a slot stays
 * taken until its look-up ends, even when the request that started it has
 * timed out.
 */
export const systemResolver: Resolver = async (hostname, signal) => {
  await systemLookupSlots.acquire(signal);
  try {
    const answers = await lookup(hostname, { all: true, verbatim: true });
    return answers.map((answer) => answer.address);
  } finally {
    systemLookupSlots.release();
  }
};
