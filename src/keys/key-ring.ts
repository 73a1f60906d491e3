import { EventEmitter } from 'node:events';
import type { JWK } from 'jose';

import type { SigningKey, SigningKeyRepository } from '../store/signing-key-repository.js';
import { toPublicJwks } from './signing-keys.js';

const PRUNE_INTERVAL_MS = 60_000;

export interface KeyRingOptions {
  /** How long a retired key stays published, in seconds: the longest token lifetime plus clock tolerance. */
  retentionSeconds: number;
  /** How often to look for keys rotated by another process, in milliseconds. */
  pollIntervalMs: number;
  /** Receives the error of each failed poll. */
  onError: (error: unknown) => void;
  /** Called after each poll that succeeded. */
  onSuccess?: () => void;
}

/**
 * The signing keys currently in force, shared by the authorization server
 * (which signs with the active key) and the gateway (which verifies against
 * every published key).
 *
 * The admin CLI rotates keys in the database from another process, so the
 * ring polls a cheap fingerprint of the key table and emits `change` with
 * the new keys when it differs.
 */
export class KeyRing extends EventEmitter<{ change: [SigningKey[]] }> {
  readonly #repository: SigningKeyRepository;
  readonly #options: KeyRingOptions;
  #keys: SigningKey[] = [];
  #publicJwks: { keys: JWK[] } = { keys: [] };
  #fingerprint = '';
  #timer: NodeJS.Timeout | undefined;
  #lastPruneAt = Number.NEGATIVE_INFINITY;

  constructor(repository: SigningKeyRepository, options: KeyRingOptions) {
    super();
    this.#repository = repository;
    this.#options = options;
  }

  /** Private keys, the active one first. */
  get keys(): readonly SigningKey[] {
    return this.#keys;
  }

  get publicJwks(): { keys: JWK[] } {
    return this.#publicJwks;
  }

  /** Reloads the keys if another process changed them; returns true when they changed. */
  async refresh(): Promise<boolean> {
    const fingerprint = await this.#repository.fingerprint();
    const expired = await this.#pruneExpired();
    if (fingerprint === this.#fingerprint && expired === 0) {
      return false;
    }

    this.#keys = await this.#repository.listPublished(this.#options.retentionSeconds);
    this.#publicJwks = toPublicJwks(this.#keys);
    this.#fingerprint = await this.#repository.fingerprint();
    this.emit('change', this.#keys);
    return true;
  }

  /** Deletes keys past their retention at most once a minute, so polling stays read-only. */
  async #pruneExpired(): Promise<number> {
    const now = Date.now();
    if (now - this.#lastPruneAt < PRUNE_INTERVAL_MS) {
      return 0;
    }
    this.#lastPruneAt = now;
    return this.#repository.deleteExpired(this.#options.retentionSeconds);
  }

  start(): void {
    this.#timer = setInterval(() => {
      this.refresh().then(() => this.#options.onSuccess?.(), this.#options.onError);
    }, this.#options.pollIntervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
