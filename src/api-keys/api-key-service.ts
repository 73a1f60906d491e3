import ipaddr from 'ipaddr.js';

import { generateApiKey, parseApiKey, type ApiKeyEnvironment } from '../core/api-keys/format.js';
import { MAX_KEY_LIFETIME_SECONDS, MAX_ROTATION_GRACE_SECONDS } from '../core/api-keys/lifetimes.js';
import { unmapIPv4, withoutPortOrBrackets } from '../core/client-address.js';
import { cidrNotationProblem, isStandardAddress } from '../core/ip-notation.js';
import { codePointCount, codePointLabel, findControlCharacter } from '../core/control-characters.js';
import type { KeyedHash } from '../core/keyed-hash.js';
import type { Account, AccountRepository } from '../store/account-repository.js';
import type { ApiKeyRecord, ApiKeyRepository } from '../store/api-key-repository.js';
import { epochSeconds } from '../store/database.js';
import { LastUseThrottle } from './last-use-throttle.js';
import { ApiKeyLookupCache, type ApiKeyLookupCacheOptions, type ApiKeyLookupResult } from './lookup-cache.js';

/** Scopes an API key may carry, and the role each one needs. */
const KEY_SCOPES: Record<string, string | undefined> = { 'orders:read': undefined, 'orders:write': undefined, admin: 'admin' };

/** How often the last-used time of one key is written, at most, in seconds. */
const LAST_USED_INTERVAL_SECONDS = 60;

/** Maximum number of keys whose last write time is remembered to delay the next write. */
const LAST_USED_TRACKED_KEYS = 10_000;

/**
 * A request to create a key for an owner whose account was disabled or
 * removed after the caller read it.
 */
export class ApiKeyOwnerInactiveError extends Error {
  constructor() {
    super('the owner account is disabled or removed, so it cannot get a new API key');
    this.name = 'ApiKeyOwnerInactiveError';
  }
}

/** A request to create or rotate a key that breaks a rule; the message is safe to show. */
export class ApiKeyRequestError extends Error {
  /** The field of the new key that breaks the rule, when one field does, so that callers can name their own option for it. */
  readonly field: keyof NewApiKey | undefined;

  constructor(message: string, field?: keyof NewApiKey) {
    super(message);
    this.name = 'ApiKeyRequestError';
    this.field = field;
  }
}

/**
 * A request to create or rotate a key for an owner that already has the
 * maximum number of active keys (for a rotation, one more than that).
 */
export class ApiKeyLimitError extends Error {
  readonly limit: number;

  constructor(limit: number) {
    super(`the owner already has ${limit} active API keys, the maximum`);
    this.name = 'ApiKeyLimitError';
    this.limit = limit;
  }
}

export interface NewApiKey {
  name: string;
  scopes: string[];
  allowedCidrs?: string[];
  /** Lifetime in seconds; none means the key does not expire. */
  expiresInSeconds?: number;
  environment?: ApiKeyEnvironment;
  /** Scopes the creator holds; the key may carry no other (for example the scopes of the creating access token). */
  ceiling?: readonly string[];
  /** The OAuth client whose access token creates the key; none for the admin CLI. */
  clientId?: string;
  /**
   * Maximum number of active keys the owner may hold, counting the new one;
   * none means no limit (the admin CLI).
   */
  maxActiveKeys?: number;
}

/** A key as shown to its owner: never the key or its hash. */
export interface ApiKeySummary {
  id: string;
  name: string;
  environment: string;
  scopes: string[];
  allowedCidrs: string[];
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  state: 'active' | 'revoked' | 'expired' | 'rotating';
  replacedBy: string | null;
}

export type ApiKeyVerification =
  | { outcome: 'valid'; record: ApiKeyRecord; owner: Account }
  | { outcome: 'malformed'; reason: string }
  /**
   * No usable key. `ended` is the stored key when the presented key matched
   * it but it is revoked or expired, or its owner is disabled or removed.
   */
  | { outcome: 'invalid'; ended?: ApiKeyRecord }
  | { outcome: 'address_not_allowed'; record: ApiKeyRecord }
  /** The owner has lost the roles that every scope of the key needs. */
  | { outcome: 'no_usable_scope'; record: ApiKeyRecord };

/** The latest time a JavaScript Date holds, in milliseconds since the epoch. */
const LATEST_DATE_MS = 8.64e15;

function isoTime(seconds: number | null): string | null {
  // Keys stored before lifetimes were bounded may end after the latest Date,
  // which would make every listing of their owner fail.
  return seconds === null ? null : new Date(Math.min(seconds * 1000, LATEST_DATE_MS)).toISOString();
}

function stateOf(record: ApiKeyRecord, now: number): ApiKeySummary['state'] {
  if (record.revokedAt !== null) {
    return 'revoked';
  }
  if (hasExpired(record, now)) {
    return 'expired';
  }
  return record.replacedBy === null ? 'active' : 'rotating';
}

function hasExpired(record: ApiKeyRecord, now: number): boolean {
  return record.expiresAt !== null && record.expiresAt <= now;
}

/**
 * Returns the epoch second at which a lifetime of `seconds`, starting at
 * `nowMs`, ends. Times are stored in whole seconds, so the end is rounded
 * up. A key then never expires before its lifetime has passed, and
 * outlives it by less than a second. A lifetime of 0 ends at once.
 */
function lifetimeEnd(nowMs: number, seconds: number): number {
  return seconds === 0 ? Math.floor(nowMs / 1000) : Math.ceil(nowMs / 1000) + seconds;
}

/**
 * Parses a CIDR range. A range inside ::ffff:0:0/96 is the IPv4 range it
 * maps, as callers with mapped addresses count as IPv4 callers, so
 * ::ffff:203.0.113.0/120 is 203.0.113.0/24.
 */
function parseRange(cidr: string): [ipaddr.IPv4 | ipaddr.IPv6, number] {
  const [address, prefixLength] = ipaddr.parseCIDR(cidr);
  if (address.kind() === 'ipv6' && prefixLength >= 96 && (address as ipaddr.IPv6).isIPv4MappedAddress()) {
    return [(address as ipaddr.IPv6).toIPv4Address(), prefixLength - 96];
  }
  return [address, prefixLength];
}

function addressAllowed(address: string, cidrs: readonly string[]): boolean {
  if (cidrs.length === 0) {
    return true;
  }

  // A zone id selects an interface and has no bearing on the range. An
  // address in a legacy IPv4 notation, which a socket never reports, could
  // mean another address to the proxy that forwarded it, so it matches no range.
  const host = withoutPortOrBrackets(address);
  const zoneStart = host.indexOf('%');
  const withoutZone = zoneStart !== -1 && host.includes(':') ? host.slice(0, zoneStart) : host;
  if (!isStandardAddress(withoutZone)) {
    return false;
  }

  const parsed = unmapIPv4(ipaddr.parse(withoutZone));
  // NOTE: a range stored before creation checked the notation may be in a
  // legacy form, and it keeps the meaning ipaddr.js gives it.
  return cidrs.some((cidr) => {
    const range = parseRange(cidr);
    return range[0].kind() === parsed.kind() && parsed.match(range);
  });
}

/**
 * Returns the network address and prefix length of a CIDR range, such as
 * 10.0.0.0/8 for 10.1.2.3/8. Raises ApiKeyRequestError for a range that is
 * invalid or not in standard notation.
 */
function rangeKey(cidr: string): string {
  const problem = cidrNotationProblem(cidr);
  if (problem !== undefined) {
    throw new ApiKeyRequestError(problem, 'allowedCidrs');
  }
  const [address, prefixLength] = parseRange(cidr);
  const canonical = `${address.toString()}/${prefixLength}`;
  const network = address.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(canonical) : ipaddr.IPv6.networkAddressFromCIDR(canonical);
  return `${network.toNormalizedString()}/${prefixLength}`;
}

/**
 * Checks each CIDR range and drops those that repeat an earlier one, also
 * when spelled differently (10.0.0.0/8 and 10.1.2.3/8). The first spelling
 * is kept.
 */
function uniqueRanges(cidrs: readonly string[]): string[] {
  const seen = new Set<string>();
  return cidrs.filter((cidr) => {
    const key = rangeKey(cidr);
    if (seen.has(key)) {
      return false;
    }
    seen.add(key);
    return true;
  });
}

/** The successor that a rotation issues, and how long the old key keeps working. */
export interface RotatedApiKey {
  value: string;
  summary: ApiKeySummary;
  /** Seconds until the old key stops working: the grace period, or less when the key expires before it ends. */
  graceSeconds: number;
}

/** The account that rotates one of its own keys, and the scopes its credential may hand on. */
export interface KeyRotator {
  owner: Account;
  /** Scopes the rotator holds, such as those of its access token; the key may carry no other. */
  ceiling?: readonly string[];
  /** The OAuth client whose access token rotates the key, which receives the successor. */
  clientId?: string;
  /**
   * Maximum number of active keys the owner may hold, as for creation. A
   * rotation may take the owner one key over it, so that the old key keeps
   * working during its grace period, but no further. None means no limit
   * (the admin CLI).
   */
  maxActiveKeys?: number;
}

/** Returns the scopes of `scopes` that `owner` may not put on a key, or that lie outside `ceiling`. */
function disallowedScopes(scopes: readonly string[], owner: Account, ceiling: readonly string[] | undefined): string[] {
  const allowed = new Set(ApiKeyService.allowedScopes(owner));
  const ceilingScopes = ceiling === undefined ? undefined : new Set(ceiling);
  return scopes.filter((scope) => !allowed.has(scope) || (ceilingScopes !== undefined && !ceilingScopes.has(scope)));
}

/**
 * Describes rejected scopes for an error message: each one quoted, so that
 * an empty scope or one with spaces shows, and then the scopes that the
 * owner, within `ceiling`, may put on a key.
 */
function describeDisallowedScopes(disallowed: readonly string[], owner: Account, ceiling: readonly string[] | undefined): string {
  const permitted = ApiKeyService.allowedScopes(owner).filter((scope) => ceiling === undefined || ceiling.includes(scope));
  const holder = ceiling === undefined ? 'this owner' : 'this owner and credential';
  const quoted = disallowed.map((scope) => `'${scope}'`).join(', ');
  return `${quoted} (allowed for ${holder}: ${permitted.length === 0 ? 'none' : permitted.join(', ')})`;
}

/**
 * Returns `record` with only the scopes that the roles of `owner` still
 * allow, or with none when the owner no longer exists.
 */
function withUsableScopes(record: ApiKeyRecord, owner: Account | undefined): ApiKeyRecord {
  const allowed = new Set(owner === undefined ? [] : ApiKeyService.allowedScopes(owner));
  const scopes = record.scopes.filter((scope) => allowed.has(scope));
  return scopes.length === record.scopes.length ? record : { ...record, scopes };
}

/** Issues, verifies, rotates and revokes API keys. */
export class ApiKeyService {
  readonly #keys: ApiKeyRepository;
  readonly #accounts: AccountRepository;
  readonly #hasher: KeyedHash;
  readonly #lastUse = new LastUseThrottle(LAST_USED_INTERVAL_SECONDS, LAST_USED_TRACKED_KEYS);
  readonly #onTouchError: (error: unknown) => void;
  readonly #pendingTouches = new Set<Promise<void>>();
  readonly #lookupCache: ApiKeyLookupCache | undefined;
  #announceEnded: (keyId: string) => void = (keyId) => this.forgetKey(keyId);

  /** With `lookupCache`, `verify` reuses store lookups (see ApiKeyLookupCache); without it, every call reads the store. */
  constructor(
    keys: ApiKeyRepository,
    accounts: AccountRepository,
    hasher: KeyedHash,
    onTouchError: (error: unknown) => void = () => {},
    lookupCache?: ApiKeyLookupCacheOptions,
  ) {
    this.#keys = keys;
    this.#accounts = accounts;
    this.#hasher = hasher;
    this.#onTouchError = onTouchError;
    this.#lookupCache = lookupCache === undefined ? undefined : new ApiKeyLookupCache((value, keyId) => this.#lookup(value, keyId), lookupCache);
  }

  /**
   * Hands each key that this service revokes or rotates to `announce`
   * instead of only forgetting its cached lookup here, so that other
   * instances can forget theirs too. `announce` must call forgetKey on
   * this instance.
   */
  announceEndedKeys(announce: (keyId: string) => void): void {
    this.#announceEnded = announce;
  }

  /** Drops the cached lookup of the key `keyId`, so that its next use reads the store. */
  forgetKey(keyId: string): void {
    this.#lookupCache?.forget(keyId);
  }

  /** Returns the scopes an account may put on its keys. */
  static allowedScopes(owner: Account): string[] {
    return Object.entries(KEY_SCOPES)
      .filter(([, role]) => role === undefined || owner.roles.includes(role))
      .map(([scope]) => scope);
  }

  /**
   * Creates a key for `owner` and returns it with its summary. The key value
   * exists only in the return value: the store keeps its keyed hash. With
   * `maxActiveKeys`, raises ApiKeyLimitError at the limit. Raises
   * ApiKeyOwnerInactiveError when the owner's account was disabled or
   * removed after it was read.
   */
  async create(owner: Account, request: NewApiKey): Promise<{ value: string; summary: ApiKeySummary }> {
    const record = this.#validate(owner, request);
    const generated = generateApiKey(request.environment ?? 'live');
    const full: ApiKeyRecord = { ...record, id: generated.keyId, environment: generated.environment, hash: this.#hasher.hash(generated.value) };

    const result = await this.#keys.createWithinLimit(full, request.maxActiveKeys);
    if (result === 'over_limit') {
      throw new ApiKeyLimitError(request.maxActiveKeys as number);
    }
    if (result === 'owner_inactive') {
      throw new ApiKeyOwnerInactiveError();
    }
    return { value: generated.value, summary: this.summarize(full) };
  }

  #validate(owner: Account, request: NewApiKey): ApiKeyRecord {
    // The name is checked before trim(), which would silently drop a newline
    // or a U+FEFF at either end.
    const control = findControlCharacter(request.name);
    if (control !== undefined) {
      throw new ApiKeyRequestError(`name contains ${codePointLabel(control)}, a control or format character; use printable characters only`, 'name');
    }
    const name = request.name.trim();
    // Counted in code points, as the API's schema counts them.
    if (name === '' || codePointCount(name) > 100) {
      throw new ApiKeyRequestError('name must be 1 to 100 characters', 'name');
    }

    const scopes = [...new Set(request.scopes)];
    if (scopes.length === 0) {
      throw new ApiKeyRequestError('at least one scope is required', 'scopes');
    }
    const disallowed = disallowedScopes(scopes, owner, request.ceiling);
    if (disallowed.length > 0) {
      throw new ApiKeyRequestError(`scope not allowed: ${describeDisallowedScopes(disallowed, owner, request.ceiling)}`, 'scopes');
    }

    const cidrs = uniqueRanges(request.allowedCidrs ?? []);

    const lifetime = request.expiresInSeconds;
    const nowMs = Date.now();
    const now = Math.floor(nowMs / 1000);
    if (lifetime !== undefined) {
      if (!Number.isInteger(lifetime) || lifetime <= 0) {
        throw new ApiKeyRequestError('expiry must be a positive whole number of seconds', 'expiresInSeconds');
      }
      if (lifetime > MAX_KEY_LIFETIME_SECONDS) {
        throw new ApiKeyRequestError(`expiry must be at most ${MAX_KEY_LIFETIME_SECONDS / 86_400} days; leave it out for a key that does not expire`, 'expiresInSeconds');
      }
    }

    return {
      id: '',
      hash: '',
      environment: '',
      ownerId: owner.id,
      name,
      scopes,
      allowedCidrs: cidrs,
      createdAt: now,
      expiresAt: lifetime === undefined ? null : lifetimeEnd(nowMs, lifetime),
      lastUsedAt: null,
      revokedAt: null,
      replacedBy: null,
      clientId: request.clientId ?? null,
    };
  }

  /**
   * Checks a presented key: its format and checksum first (no store access),
   * then the stored hash, state and owner (possibly from the lookup cache),
   * and on every call the expiry and the allowed addresses.
   */
  async verify(value: string, clientAddress: string): Promise<ApiKeyVerification> {
    const parsed = parseApiKey(value);
    if (!parsed.valid) {
      return { outcome: 'malformed', reason: parsed.reason };
    }

    const result = this.#lookupCache === undefined ? await this.#lookup(value, parsed.keyId) : await this.#lookupCache.find(value, parsed.keyId);
    const now = epochSeconds();
    if (result === undefined) {
      return { outcome: 'invalid' };
    }
    if ('ended' in result) {
      return { outcome: 'invalid', ended: result.ended };
    }
    if (hasExpired(result.record, now)) {
      return { outcome: 'invalid', ended: result.record };
    }

    const { record, owner } = result;
    if (record.scopes.length === 0) {
      return { outcome: 'no_usable_scope', record };
    }
    if (!addressAllowed(clientAddress, record.allowedCidrs)) {
      return { outcome: 'address_not_allowed', record };
    }

    this.#touchLater(record.id, now);
    return { outcome: 'valid', record, owner };
  }

  async #lookup(value: string, keyId: string): Promise<ApiKeyLookupResult> {
    const record = await this.#keys.findById(keyId);
    if (record === undefined || !this.#hasher.matches(value, record.hash)) {
      return undefined;
    }
    if (record.revokedAt !== null || hasExpired(record, epochSeconds())) {
      return { ended: record };
    }

    // A disabled owner is not found. A key keeps only the scopes that its
    // owner's roles still allow, so taking a role away takes its scopes off
    // the owner's keys too.
    const owner = await this.#accounts.findById(record.ownerId);
    if (owner === undefined) {
      return { ended: record };
    }

    return { record: withUsableScopes(record, owner), owner };
  }

  /** Records the last use at most once a minute per key, after the request's own work. */
  #touchLater(id: string, now: number): void {
    if (!this.#lastUse.shouldRecord(id, now)) {
      return;
    }

    const touch: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.#keys.touch(id, now))
      .catch(this.#onTouchError)
      .finally(() => this.#pendingTouches.delete(touch));
    this.#pendingTouches.add(touch);
  }

  /** Waits until every last-use record already scheduled is written or has failed, so that the store can be closed after them. */
  async flushLastUse(): Promise<void> {
    await Promise.all(this.#pendingTouches);
  }

  /**
   * Issues a successor with the same owner, name, scopes and addresses, and
   * keeps the old key working for `graceSeconds` (0 ends it at once).
   * With a `rotator`, only that owner's key is rotated, and only while the
   * owner and the rotator's ceiling still allow every scope of the key.
   * The successor is a new key value, so a token that could not create the
   * key must not obtain it by rotation either. Raises ApiKeyLimitError when
   * the rotation would exceed the rotator's `maxActiveKeys` by more than one.
   */
  async rotate(id: string, graceSeconds: number, rotator?: KeyRotator): Promise<RotatedApiKey | undefined> {
    if (!Number.isInteger(graceSeconds) || graceSeconds < 0 || graceSeconds > MAX_ROTATION_GRACE_SECONDS) {
      // Callers read the grace period as a duration, such as 24h, so the message names that form.
      throw new ApiKeyRequestError(`the grace period must be 0 or a duration of whole seconds up to ${MAX_ROTATION_GRACE_SECONDS / 86_400}d, such as 24h`);
    }

    const current = await this.#keys.findById(id);
    const nowMs = Date.now();
    const now = Math.floor(nowMs / 1000);
    if (current === undefined || (rotator !== undefined && current.ownerId !== rotator.owner.id) || stateOf(current, now) !== 'active') {
      return undefined;
    }

    // An administrator's rotation has no rotator, so the owner is read here:
    // a successor must not carry scopes that the owner's roles no longer
    // allow, which verification would drop from it anyway.
    const owner = rotator?.owner ?? (await this.#accounts.findById(current.ownerId, { includeDisabled: true }));
    if (owner !== undefined) {
      const disallowed = disallowedScopes(current.scopes, owner, rotator?.ceiling);
      if (disallowed.length > 0) {
        throw new ApiKeyRequestError(
          `the key carries scopes not allowed: ${describeDisallowedScopes(disallowed, owner, rotator?.ceiling)}; create a key with the allowed scopes instead`,
          'scopes',
        );
      }
    }

    const generated = generateApiKey(current.environment as ApiKeyEnvironment);
    const successor: ApiKeyRecord = {
      ...current,
      id: generated.keyId,
      hash: this.#hasher.hash(generated.value),
      createdAt: now,
      lastUsedAt: null,
      replacedBy: null,
      clientId: rotator?.clientId ?? null,
    };
    const result = await this.#keys.rotate(id, successor, lifetimeEnd(nowMs, graceSeconds), rotator?.maxActiveKeys);
    if (result === 'not_active') {
      return undefined;
    }
    if (result === 'over_limit') {
      throw new ApiKeyLimitError(rotator?.maxActiveKeys as number);
    }
    this.#announceEnded(id);
    // A key that expires before its grace period would end keeps its own
    // expiry. The whole seconds left are counted from this millisecond, as
    // an expiry rounded up to the next second could otherwise count one more.
    const remainingSeconds = current.expiresAt === null ? graceSeconds : Math.min(graceSeconds, Math.max(0, Math.floor((current.expiresAt * 1000 - nowMs) / 1000)));
    return { value: generated.value, summary: this.summarize(successor), graceSeconds: remainingSeconds };
  }

  async revoke(id: string, ownerId?: string): Promise<boolean> {
    const revoked = await this.#keys.revoke(id, ownerId);
    if (revoked) {
      this.#announceEnded(id);
    }
    return revoked;
  }

  /** Lists keys, each with the scopes its owner's roles still allow. */
  async list(ownerId?: string): Promise<ApiKeySummary[]> {
    return (await this.#listUsable(ownerId)).map((record) => this.summarize(record));
  }

  /** Lists keys with the id of each key's owner, all owners' or one owner's, for administrators. */
  async listWithOwners(ownerId?: string): Promise<Array<ApiKeySummary & { ownerId: string }>> {
    return (await this.#listUsable(ownerId)).map((record) => ({ ...this.summarize(record), ownerId: record.ownerId }));
  }

  /** Reads keys and drops from each the scopes that its owner's roles no longer allow, as `verify` does. */
  async #listUsable(ownerId?: string): Promise<ApiKeyRecord[]> {
    const records = await this.#keys.list(ownerId);
    const owners = new Map<string, Account | undefined>();
    for (const id of new Set(records.map((record) => record.ownerId))) {
      owners.set(id, await this.#accounts.findById(id, { includeDisabled: true }));
    }
    return records.map((record) => withUsableScopes(record, owners.get(record.ownerId)));
  }

  summarize(record: ApiKeyRecord): ApiKeySummary {
    return {
      id: record.id,
      name: record.name,
      environment: record.environment,
      scopes: record.scopes,
      allowedCidrs: record.allowedCidrs,
      createdAt: isoTime(record.createdAt) as string,
      expiresAt: isoTime(record.expiresAt),
      lastUsedAt: isoTime(record.lastUsedAt),
      state: stateOf(record, epochSeconds()),
      replacedBy: record.replacedBy,
    };
  }
}
