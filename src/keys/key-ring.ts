import { EventEmitter } from 'node:events';
import type { JWK } from 'jose';

import type { SigningKey, SigningKeyRepository } from '../store/signing-key-repository.js';
import { ACCESS_TOKEN_SIGNING_ALGORITHM, SIGNING_ALGORITHMS, toPublicJwks, type SigningAlgorithm } from './signing-keys.js';

const PRUNE_INTERVAL_MS = 60_000;

export interface KeyRingOptions {
  /** How long a retired key stays published, in seconds: the longest token lifetime plus clock tolerance. */
  retentionSeconds: number;
  /** How often to look for keys rotated by another process, in milliseconds. */
  pollIntervalMs: number;
  /**
   * How long a new key is published before it signs, in milliseconds, so
   * that every instance and verifier has loaded it first. Default 0.
   */
  signingDelayMs?: number;
  /** Receives the error of each failed poll. */
  onError: (error: unknown) => void;
  /** Called after each poll that succeeded. */
  onSuccess?: () => void;
}

/**
 * Returns the key that signs for one algorithm, given that algorithm's keys
 * in published order, and how long until that changes. While the active key
 * is younger than `delayMs`, the most recently retired key keeps signing,
 * because an instance that has not polled yet would reject tokens signed
 * with a key it has not loaded.
 */
function chooseSigner(keys: readonly SigningKey[], nowMs: number, delayMs: number): { signer: SigningKey | undefined; changesInMs: number | undefined } {
  const [active] = keys;
  if (active === undefined || active.retiredAt !== null) {
    return { signer: active, changesInMs: undefined };
  }

  // NOTE: created_at comes from the clock of the host that rotated the key,
  // so clock skew between hosts lengthens or shortens the delay. It is in
  // whole seconds, rounded down, so the delay counts from the next second:
  // never shorter than `delayMs`, and at most a second longer.
  const heldBackMs = (active.createdAt + 1) * 1000 + delayMs - nowMs;
  let predecessor: SigningKey | undefined;
  for (const key of keys) {
    if (key.retiredAt !== null && (predecessor === undefined || key.retiredAt > (predecessor.retiredAt ?? 0))) {
      predecessor = key;
    }
  }
  if (heldBackMs <= 0 || predecessor === undefined) {
    return { signer: active, changesInMs: undefined };
  }

  return { signer: predecessor, changesInMs: heldBackMs };
}

/** Returns the position of `alg` in SIGNING_ALGORITHMS, and a larger number for any other algorithm. */
function algorithmRank(alg: string): number {
  const index = SIGNING_ALGORITHMS.indexOf(alg as SigningAlgorithm);
  return index === -1 ? SIGNING_ALGORITHMS.length : index;
}

/**
 * Returns the keys in the order the authorization server tries them for
 * signing, and how long until that order changes. oidc-provider signs with
 * the first key of the requested algorithm, so the key that signs for each
 * algorithm comes first, in the order of SIGNING_ALGORITHMS (the access
 * token key first), followed by the other keys in published order. The
 * signing delay applies to each algorithm on its own, and only a key of the
 * same algorithm signs in place of one held back.
 */
export function orderForSigning(keys: readonly SigningKey[], nowMs: number, delayMs: number): { keys: SigningKey[]; changesInMs: number | undefined } {
  const byAlgorithm = new Map<string, SigningKey[]>();
  for (const key of keys) {
    const group = byAlgorithm.get(key.alg) ?? [];
    group.push(key);
    byAlgorithm.set(key.alg, group);
  }

  const signers: SigningKey[] = [];
  let changesInMs: number | undefined;
  for (const group of byAlgorithm.values()) {
    const choice = chooseSigner(group, nowMs, delayMs);
    if (choice.signer !== undefined) {
      signers.push(choice.signer);
    }
    if (choice.changesInMs !== undefined) {
      changesInMs = Math.min(changesInMs ?? Number.POSITIVE_INFINITY, choice.changesInMs);
    }
  }

  signers.sort((a, b) => algorithmRank(a.alg) - algorithmRank(b.alg));
  return { keys: [...signers, ...keys.filter((key) => !signers.includes(key))], changesInMs };
}

/** Returns the kid of the key that signs for each algorithm, given keys in the order of orderForSigning. */
export function signingKidsByAlgorithm(keys: readonly SigningKey[]): Record<string, string> {
  const kids: Record<string, string> = {};
  for (const key of keys) {
    kids[key.alg] ??= key.kid;
  }
  return kids;
}

/**
 * The signing keys currently in force, shared by the authorization server
 * (which signs with the active key of each algorithm) and the gateway (which
 * verifies access tokens against every published key of their algorithm).
 *
 * The admin CLI rotates keys in the database from another process, so the
 * ring polls a cheap fingerprint of the key table and emits `change` with
 * the new keys when it differs. A new key is published at once but signs
 * only after `signingDelayMs`, when the ring emits `change` again.
 */
export class KeyRing extends EventEmitter<{ change: [SigningKey[]] }> {
  readonly #repository: SigningKeyRepository;
  readonly #options: KeyRingOptions;
  #keys: SigningKey[] = [];
  #publicJwks: { keys: JWK[] } = { keys: [] };
  #accessTokenJwks: { keys: JWK[] } = { keys: [] };
  #fingerprint = '';
  #timer: NodeJS.Timeout | undefined;
  #promotion: NodeJS.Timeout | undefined;
  #polling = false;
  #lastPruneAt = Number.NEGATIVE_INFINITY;

  constructor(repository: SigningKeyRepository, options: KeyRingOptions) {
    super();
    this.#repository = repository;
    this.#options = options;
  }

  /** Private keys of the published set, in the order of orderForSigning: the access token key first. */
  get keys(): readonly SigningKey[] {
    return this.#keys;
  }

  /** Public halves of every published key, of every algorithm. */
  get publicJwks(): { keys: JWK[] } {
    return this.#publicJwks;
  }

  /**
   * Public halves of the published ES256 keys, the only ones that verify
   * access tokens. A new object after each reload that changed the keys.
   */
  get accessTokenJwks(): { keys: JWK[] } {
    return this.#accessTokenJwks;
  }

  /** Reloads the keys if another process changed them; returns true when they changed. */
  async refresh(): Promise<boolean> {
    const fingerprint = await this.#repository.fingerprint();
    const expired = await this.#pruneExpired();
    if (fingerprint === this.#fingerprint && expired === 0) {
      return false;
    }

    // The ring keeps the fingerprint read before the list, so a rotation
    // committed after that read still differs from it at the next poll.
    const published = await this.#repository.listPublished(this.#options.retentionSeconds);
    this.#publicJwks = toPublicJwks(published);
    this.#accessTokenJwks = toPublicJwks(published.filter((key) => key.alg === ACCESS_TOKEN_SIGNING_ALGORITHM));
    this.#fingerprint = fingerprint;
    this.#order(published);
    return true;
  }

  /**
   * Puts the keys in signing order, emits `change` when the order differs
   * from the last one and, while a new key is held back, schedules its
   * promotion. Node.js counts a timer from the event loop's cached time,
   * which can lag Date.now(), so the promotion may run before it is due. It
   * then finds the order unchanged and waits once more.
   */
  #order(published: readonly SigningKey[]): void {
    clearTimeout(this.#promotion);
    const { keys, changesInMs } = orderForSigning(published, Date.now(), this.#options.signingDelayMs ?? 0);
    const changed = keys.length !== this.#keys.length || keys.some((key, index) => key.kid !== this.#keys[index]?.kid);
    this.#keys = keys;
    if (changed) {
      this.emit('change', keys);
    }

    if (changesInMs !== undefined) {
      this.#promotion = setTimeout(() => this.#order(published), changesInMs);
      this.#promotion.unref();
    }
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

  /**
   * Polls the key table every `pollIntervalMs`. A poll is skipped while the
   * previous one still runs, so a stalled database gets one poll at a time
   * and the polls apply their key lists in order.
   */
  start(): void {
    this.#timer = setInterval(() => {
      if (this.#polling) {
        return;
      }

      this.#polling = true;
      this.refresh()
        .then(() => this.#options.onSuccess?.(), this.#options.onError)
        .finally(() => {
          this.#polling = false;
        });
    }, this.#options.pollIntervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    clearTimeout(this.#promotion);
    this.#timer = undefined;
  }
}
