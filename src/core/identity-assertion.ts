/**
 * Identity assertions: the signed form of the gateway's identity headers.
 *
 * The gateway sends a short-lived JWT in the `x-portcullis-identity` header.
 * It names the caller and binds the request it was made for: the method, the
 * request target (path and query) as the upstream receives it, and the
 * gateway's request id as `jti` (assertionId adds a suffix when the request
 * is sent more than once). A service that verifies it no longer has to rely
 * on being reachable only through the gateway: a forged, unsigned or expired
 * assertion fails, and a captured one cannot be replayed against another
 * method or path.
 *
 * The signature is EdDSA (Ed25519) with a key of the gateway's own, which is
 * not the key that signs access tokens, and the JWT type is
 * `portcullis-identity+jwt`. Upstream services hold only the public key, so a
 * compromised service cannot mint identities for the others, which a shared
 * HMAC secret would allow.
 */

import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  errors,
  exportJWK,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';

import { SeenIds, type IdUse } from './cache/seen-ids.js';
import { CompactEd25519Signer } from './compact-jws.js';
import { ed25519KeyFromSeed, type Ed25519Implementation, type Ed25519SigningKey } from './ed25519.js';
import type { CredentialKind, Identity } from './identity-headers.js';
import { describeJwtError, unusableKeyError } from './jwt-errors.js';
import { verifyJwt } from './jwt-verify.js';
import type { Pending } from './pending.js';

/** Request header that carries the identity assertion. */
export const IDENTITY_ASSERTION_HEADER = 'x-portcullis-identity';

/** JWT `typ` header of identity assertions, so no other JWT can stand in for one. */
export const IDENTITY_ASSERTION_TYPE = 'portcullis-identity+jwt';

export const IDENTITY_ASSERTION_ALGORITHM = 'EdDSA';

/** Default lifetime of an assertion, in seconds: long enough for one forwarded request. */
export const DEFAULT_ASSERTION_LIFETIME_SECONDS = 30;

/** The request an assertion is bound to. */
export interface AssertedRequest {
  /** HTTP method, upper case. */
  method: string;
  /** Request target in origin form, as the upstream receives it: path and query. */
  target: string;
  /** The gateway's request id, a UUID, from which the `jti` is built (see assertionId). */
  requestId: string;
  /** The number of the attempt to send the request upstream that the assertion goes with, counted from 1. Default 1. */
  attempt?: number;
  /** The name of the gateway's upstream entry that the request is forwarded to, sent as the `upstream` claim. */
  upstream?: string;
}

/** A verified assertion: the caller and the gateway's request id it was issued for. */
export interface VerifiedAssertion {
  identity: Identity;
  /** The gateway's request id, as the caller got it in X-Request-Id: the `jti` without an attempt suffix. */
  requestId: string;
}

/** The attempt suffix of a `jti`: a dot and a number. Request ids are UUIDs, which contain no dot. */
const ATTEMPT_SUFFIX = /\.[1-9][0-9]*$/;

/**
 * Returns the `jti` of the assertion for one attempt to send a request
 * upstream: the request id for the first attempt, and the request id, a dot
 * and the attempt number for a later one (`<request id>.2`). A verifier
 * accepts each `jti` once, so a request sent again after its upstream
 * connection closed needs an id of its own, and the upstream can still match
 * it to the request id the caller got.
 */
export function assertionId(requestId: string, attempt = 1): string {
  return attempt === 1 ? requestId : `${requestId}.${attempt}`;
}

/** Returns the gateway's request id of an assertion's `jti`, without the attempt suffix that assertionId adds. */
export function requestIdOf(jti: string): string {
  return jti.replace(ATTEMPT_SUFFIX, '');
}

export interface IdentityAssertionSignerOptions {
  /** 32 random bytes from which the Ed25519 key pair is derived. */
  seed: Uint8Array;
  /** Value of the `iss` claim: the gateway's issuer URL. */
  issuer: string;
  /** Value of the `aud` claim: the API that upstream services implement. */
  audience: string;
  /** Lifetime of each assertion, in seconds. Default 30. */
  lifetimeSeconds?: number;
  /** The library that signs. Default: libsodium when it loads on this platform, otherwise node:crypto. */
  implementation?: Ed25519Implementation;
}

/** Signs identity assertions for forwarded requests. */
export class IdentityAssertionSigner {
  readonly #key: Ed25519SigningKey;
  readonly #issuer: string;
  readonly #audience: string;
  readonly #lifetimeSeconds: number;
  #publicJwk: (JWK & { kid: string }) | undefined;
  /** Signs under the protected header that names the key id, once the key id is known. */
  #jws: CompactEd25519Signer | undefined;

  constructor(options: IdentityAssertionSignerOptions) {
    this.#key = ed25519KeyFromSeed(options.seed, options.implementation);
    // Only the signing key is kept, not the seed.
    this.#issuer = options.issuer;
    this.#audience = options.audience;
    this.#lifetimeSeconds = options.lifetimeSeconds ?? DEFAULT_ASSERTION_LIFETIME_SECONDS;
  }

  /** The library that computes the signatures. */
  get implementation(): Ed25519Implementation {
    return this.#key.implementation;
  }

  /** Returns the public key as a JWK whose kid is its RFC 7638 thumbprint. */
  async publicJwk(): Promise<JWK & { kid: string }> {
    if (this.#publicJwk === undefined) {
      const jwk = await exportJWK(this.#key.publicKey);
      const kid = await calculateJwkThumbprint(jwk);
      this.#publicJwk = { ...jwk, kid, alg: IDENTITY_ASSERTION_ALGORITHM, use: 'sig' };
      this.#jws = new CompactEd25519Signer({ alg: IDENTITY_ASSERTION_ALGORITHM, typ: IDENTITY_ASSERTION_TYPE, kid }, this.#key);
    }

    return this.#publicJwk;
  }

  /** Returns the JWK Set that verifiers of assertions use. */
  async publicJwks(): Promise<{ keys: JWK[] }> {
    return { keys: [await this.publicJwk()] };
  }

  /**
   * Signs the assertion for one forwarded request. Once the key id is known
   * (after the first call), the assertion is returned without a promise.
   */
  sign(identity: Identity, request: AssertedRequest): Pending<string> {
    const jws = this.#jws;
    if (jws === undefined) {
      return this.publicJwk().then(() => this.sign(identity, request));
    }

    // The claims are in the order jose's SignJWT writes them, so that its
    // output and this one can be compared byte for byte. JSON leaves out
    // `upstream` when none is named and `key_id` when the caller used no API key.
    const issuedAt = Math.floor(Date.now() / 1000);
    const claims: JWTPayload = {
      scope: identity.scopes.join(' '),
      roles: identity.roles,
      client_id: identity.clientId,
      credential: identity.credential,
      htm: request.method.toUpperCase(),
      target: request.target,
      upstream: request.upstream,
      key_id: identity.keyId,
      iss: this.#issuer,
      aud: this.#audience,
      sub: identity.subject,
      jti: assertionId(request.requestId, request.attempt),
      iat: issuedAt,
      exp: issuedAt + this.#lifetimeSeconds,
    };

    return jws.sign(claims);
  }
}

/** A record of used assertion ids that the instances of a service share, such as RedisAssertionReplayStore. */
export interface AssertionReplayStore {
  /** Records `id` as used until `expiresAt` (milliseconds since the epoch). Resolves false when it was already used. */
  use(id: string, expiresAt: number): Promise<boolean>;
}

/** The shared record of used assertion ids could not be reached: the service, not the caller, is at fault. */
export class ReplayStoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ReplayStoreUnavailableError';
  }
}

export interface IdentityAssertionVerifierOptions {
  /** Expected `iss`: the gateway's issuer URL. */
  issuer: string;
  /** Expected `aud`: the API this service implements. */
  audience: string;
  /** The gateway's assertion keys: a JWK Set, or a key resolver such as a remote JWK Set. */
  keys: JSONWebKeySet | JWTVerifyGetKey;
  /** Longest accepted lifetime (`exp` minus `iat`), in seconds. Default 60. */
  maxLifetimeSeconds?: number;
  /** Accepted clock difference, in seconds. Default 5. */
  clockToleranceSeconds?: number;
  /** How many used assertion ids are remembered to reject replays. Default 100000. */
  replayCacheSize?: number;
  /** A record of used ids shared by the service's instances, in place of the one in this process (and replayCacheSize). */
  replayStore?: AssertionReplayStore;
  /**
   * The name of this service's entry in the gateway's upstreams. When set,
   * an assertion must carry it in its `upstream` claim, so that one signed
   * for another service behind the same gateway is rejected.
   */
  upstream?: string;
}

/** An assertion that failed verification; `reason` is safe to show to the client. */
export class InvalidIdentityAssertionError extends Error {
  readonly reason: string;

  constructor(reason: string, options?: { cause?: unknown }) {
    super(reason, options);
    this.name = 'InvalidIdentityAssertionError';
    this.reason = reason;
  }
}

const DEFAULT_MAX_LIFETIME_SECONDS = 60;
const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5;
const DEFAULT_REPLAY_CACHE_SIZE = 100_000;

function stringClaim(payload: JWTPayload, claim: string): string {
  const value = payload[claim];
  if (typeof value !== 'string') {
    throw new InvalidIdentityAssertionError(`the identity assertion's "${claim}" claim is missing or invalid`);
  }
  return value;
}

function credentialClaim(payload: JWTPayload): CredentialKind {
  const value = payload['credential'];
  if (value !== 'jwt' && value !== 'api_key') {
    throw new InvalidIdentityAssertionError('the identity assertion\'s "credential" claim is missing or invalid');
  }
  return value;
}

function rolesClaim(payload: JWTPayload): string[] {
  const value = payload['roles'];
  if (!Array.isArray(value) || !value.every((role) => typeof role === 'string')) {
    throw new InvalidIdentityAssertionError('the identity assertion\'s "roles" claim is missing or invalid');
  }
  return value;
}

function identityOf(payload: JWTPayload): Identity {
  const scope = stringClaim(payload, 'scope');
  const keyId = payload['key_id'] === undefined ? undefined : stringClaim(payload, 'key_id');

  const subject = stringClaim(payload, 'sub');
  if (subject === '') {
    throw new InvalidIdentityAssertionError('the identity assertion\'s "sub" claim is empty');
  }

  return {
    subject,
    scopes: scope === '' ? [] : scope.split(' '),
    roles: rolesClaim(payload),
    clientId: stringClaim(payload, 'client_id'),
    credential: credentialClaim(payload),
    ...(keyId === undefined ? {} : { keyId }),
  };
}

/**
 * Verifies identity assertions in an upstream service.
 *
 * Only EdDSA and the assertion `typ` are accepted, keys come only from the
 * configured set, and the assertion must name the method and request target
 * of the request that carries it.
 *
 * Each assertion is accepted once: its `jti` is remembered until it
 * expires, and a second use gets InvalidIdentityAssertionError. When more
 * live ids arrive than `replayCacheSize`, the oldest are forgotten, and an
 * assertion that expires no later than a forgotten one is rejected too.
 *
 * NOTE: without `replayStore`, the used ids live in this process. A service
 * that runs several instances can then be sent one assertion once per
 * instance. The body is not bound to the assertion. Without `upstream`,
 * an assertion that one service received is accepted by another behind
 * the same gateway for a request with the same method and target.
 */
export class IdentityAssertionVerifier {
  readonly #options: IdentityAssertionVerifierOptions;
  readonly #getKey: JWTVerifyGetKey;
  readonly #usedIds: SeenIds;

  constructor(options: IdentityAssertionVerifierOptions) {
    this.#options = options;
    this.#getKey = typeof options.keys === 'function' ? options.keys : createLocalJWKSet(options.keys);
    this.#usedIds = new SeenIds(options.replayCacheSize ?? DEFAULT_REPLAY_CACHE_SIZE);
  }

  /**
   * Returns the caller named by `assertion` for the request `method` and
   * `target`. Throws InvalidIdentityAssertionError naming the first failed
   * check, and lets a failure to fetch the keys through unchanged.
   */
  async verify(assertion: string, method: string, target: string): Promise<VerifiedAssertion> {
    const clockTolerance = this.#options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
    let payload: JWTPayload;

    try {
      ({ payload } = await verifyJwt(assertion, this.#getKey, {
        issuer: this.#options.issuer,
        audience: this.#options.audience,
        algorithms: [IDENTITY_ASSERTION_ALGORITHM],
        typ: IDENTITY_ASSERTION_TYPE,
        clockTolerance,
        maxTokenAge: this.#options.maxLifetimeSeconds ?? DEFAULT_MAX_LIFETIME_SECONDS,
        requiredClaims: ['iss', 'aud', 'exp', 'iat', 'sub', 'jti'],
      }));
    } catch (error) {
      const keyError = unusableKeyError(error);
      if (keyError !== undefined) {
        throw keyError;
      }
      if (error instanceof errors.JOSEError) {
        throw new InvalidIdentityAssertionError(describeJwtError(error, 'the identity assertion'), { cause: error });
      }
      throw error;
    }

    // maxTokenAge bounds the age from `iat`; this bounds how far `exp` reaches.
    const lifetime = (payload.exp as number) - (payload.iat as number);
    if (lifetime > (this.#options.maxLifetimeSeconds ?? DEFAULT_MAX_LIFETIME_SECONDS)) {
      throw new InvalidIdentityAssertionError('the identity assertion\'s "exp" claim is too far after its "iat" claim');
    }

    if (stringClaim(payload, 'htm') !== method.toUpperCase() || stringClaim(payload, 'target') !== target) {
      throw new InvalidIdentityAssertionError('the identity assertion was issued for another method or path');
    }
    if (this.#options.upstream !== undefined && payload['upstream'] !== this.#options.upstream) {
      throw new InvalidIdentityAssertionError('the identity assertion was issued for another upstream service');
    }

    // Checked last, so an assertion presented for the wrong request is not used up.
    const jti = stringClaim(payload, 'jti');
    const expiresAt = ((payload.exp as number) + clockTolerance) * 1000;
    const store = this.#options.replayStore;
    const use = store === undefined ? this.#usedIds.use(jti, expiresAt) : await this.#useShared(store, jti, expiresAt);
    if (use === 'reused') {
      throw new InvalidIdentityAssertionError('the identity assertion was already used');
    }
    if (use === 'forgotten') {
      throw new InvalidIdentityAssertionError('the identity assertion is too old to be checked for replay');
    }

    return { identity: identityOf(payload), requestId: requestIdOf(jti) };
  }

  async #useShared(store: AssertionReplayStore, jti: string, expiresAt: number): Promise<IdUse> {
    try {
      return (await store.use(jti, expiresAt)) ? 'accepted' : 'reused';
    } catch (error) {
      throw new ReplayStoreUnavailableError('The record of used identity assertions could not be reached.', { cause: error });
    }
  }
}
