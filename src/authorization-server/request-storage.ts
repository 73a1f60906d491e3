/**
 * Keeps oidc-provider's request storage enabled only while an OAuth request
 * is in flight.
 *
 * oidc-provider 9 keeps the request it handles in an AsyncLocalStorage. On
 * Node.js 20, an enabled AsyncLocalStorage runs an async_hooks init hook for
 * every async resource and a promise hook for every promise in the process,
 * and it stays enabled from its first `run()` on. Every gateway request of an
 * instance that had served one OAuth request paid for those hooks. Once the
 * last OAuth request in flight has ended, the storage is disabled, and
 * oidc-provider's next `run()` enables it again.
 */

import { AsyncLocalStorage } from 'node:async_hooks';
import providerStorage from 'oidc-provider/lib/helpers/als.js';

/** The part of AsyncLocalStorage that the gate uses. */
export interface DisableableStorage {
  disable(): void;
}

/** Counts the requests that use a storage and disables it when the last one ends. */
export class StorageGate {
  readonly #storage: DisableableStorage;
  #inFlight = 0;

  constructor(storage: DisableableStorage) {
    this.#storage = storage;
  }

  /** Number of requests in flight. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Runs `handle` as one request in flight and disables the storage when none is left.
   *
   * NOTE: checked on Node.js 20, whose AsyncLocalStorage runs on async_hooks
   * and whose `run()` enables a disabled storage again. Node.js 24 builds
   * AsyncLocalStorage on AsyncContextFrame, where the hooks this saves do
   * not exist. The gate is not checked there.
   */
  async track<T>(handle: () => Promise<T>): Promise<T> {
    this.#inFlight += 1;
    try {
      return await handle();
    } finally {
      this.#inFlight -= 1;
      if (this.#inFlight === 0) {
        this.#storage.disable();
      }
    }
  }
}

if (!(providerStorage instanceof AsyncLocalStorage)) {
  throw new Error('oidc-provider/lib/helpers/als.js does not export an AsyncLocalStorage; install the oidc-provider version that package-lock.json names');
}

/**
 * The gate of oidc-provider's storage. The storage is one per process, shared
 * by every Provider, so the gate is one per process as well.
 */
export const oauthRequests = new StorageGate(providerStorage);
