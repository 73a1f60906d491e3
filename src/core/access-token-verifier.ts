import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';

import { CompactJwsSpelling, signatureLengthReason } from './jws-spelling.js';
import { describeJwtError, unusableKeyError } from './jwt-errors.js';
import { verifyJwt } from './jwt-verify.js';

/** Claims of a verified access token (RFC 9068) that the gateway relies on, frozen with everything in them. */
export interface AccessTokenClaims {
  subject: string;
  clientId: string;
  scopes: string[];
  roles: string[];
  /** The grant behind a user's token; absent only on client credentials tokens, whose subject is their client. */
  grantId: string | undefined;
  expiresAt: number;
  /** The token's `nbf`, in seconds since the epoch, when it has one. */
  notBefore: number | undefined;
  jti: string;
  /** Every claim of the verified payload, for object-level rules on claims such as `tenants`. */
  payload: Readonly<JWTPayload>;
}

export interface AccessTokenVerifierOptions {
  issuer: string;
  audience: string;
  /** Accepted JWS algorithms; the token's `alg` header never widens this list. */
  algorithms: readonly string[];
  clockToleranceSeconds: number;
  /** Longest accepted lifetime (`exp` minus `iat`), in seconds. */
  maxLifetimeSeconds: number;
  /**
   * The verification keys: a function that returns the current JWK Set
   * (called on every verification, so it must be cheap), or a key resolver
   * such as a remote JWK Set.
   */
  jwks: (() => JSONWebKeySet) | { resolver: JWTVerifyGetKey };
}

/** An access token that failed verification; `reason` is safe to show to the client. */
export class InvalidAccessTokenError extends Error {
  readonly reason: string;

  constructor(reason: string, options?: { cause?: unknown }) {
    super(reason, options);
    this.name = 'InvalidAccessTokenError';
    this.reason = reason;
  }
}

function requireStringArray(value: unknown, claim: string): string[] {
  if (value === undefined) {
    return [];
  }
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw new InvalidAccessTokenError(`the access token's "${claim}" claim is invalid`);
  }
  return value;
}

/**
 * Freezes `value` and every object and array inside it. Cached claims are
 * shared by every request that presents the token, so no request may change
 * them. It walks the value without recursion, as a payload may nest deeply.
 */
function deepFreeze<T>(value: T): T {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const current = pending.pop();
    if (current !== null && typeof current === 'object' && !Object.isFrozen(current)) {
      Object.freeze(current);
      for (const inner of Object.values(current)) {
        pending.push(inner);
      }
    }
  }
  return value;
}

function requireString(payload: JWTPayload, claim: string): string {
  const value = payload[claim];
  if (typeof value !== 'string' || value === '') {
    throw new InvalidAccessTokenError(`the access token's "${claim}" claim is missing or invalid`);
  }
  return value;
}

/**
 * Verifies JWT access tokens (RFC 9068) issued by this Portcullis.
 *
 * Keys come only from the configured JWK Set, never from the token's header
 * (`jwk`, `jku`, `x5u` are ignored), algorithms only from the allow-list, and
 * every claim is type-checked rather than coerced. Only the canonical
 * spelling of a token is accepted (see jws-spelling.ts).
 */
export class AccessTokenVerifier {
  readonly #options: AccessTokenVerifierOptions;
  readonly #spelling: CompactJwsSpelling;
  #jwks: JSONWebKeySet | undefined;
  #keySet: ReturnType<typeof createLocalJWKSet> | undefined;

  constructor(options: AccessTokenVerifierOptions) {
    this.#options = options;
    this.#spelling = new CompactJwsSpelling(options.algorithms);
  }

  #currentKeySet(): JWTVerifyGetKey {
    if (typeof this.#options.jwks !== 'function') {
      return this.#options.jwks.resolver;
    }

    const jwks = this.#options.jwks();
    if (jwks !== this.#jwks || this.#keySet === undefined) {
      this.#jwks = jwks;
      this.#keySet = createLocalJWKSet(jwks);
    }
    return this.#keySet;
  }

  /** Returns the token's claims; throws InvalidAccessTokenError naming the first failed check. */
  async verify(token: string): Promise<AccessTokenClaims> {
    const spellingReason = this.#spelling.reason(token, 'the access token');
    if (spellingReason !== undefined) {
      throw new InvalidAccessTokenError(spellingReason);
    }

    let payload: JWTPayload;
    let lengthReason: string | undefined;
    try {
      const verified = await verifyJwt(token, this.#currentKeySet(), {
        issuer: this.#options.issuer,
        audience: this.#options.audience,
        algorithms: [...this.#options.algorithms],
        typ: 'at+jwt',
        clockTolerance: this.#options.clockToleranceSeconds,
        requiredClaims: ['iss', 'aud', 'exp', 'iat', 'sub', 'jti', 'client_id'],
      });
      payload = verified.payload;
      lengthReason = signatureLengthReason(token, verified.protectedHeader.alg, verified.key, 'the access token');
    } catch (error) {
      // An unusable key, or anything but a JOSE error, such as a failed
      // fetch of a remote key set, is the server's problem and must not
      // read as a bad token.
      const keyError = unusableKeyError(error);
      if (keyError !== undefined) {
        throw keyError;
      }
      if (!(error instanceof errors.JOSEError)) {
        throw error;
      }
      throw new InvalidAccessTokenError(describeJwtError(error, 'the access token'), { cause: error });
    }
    if (lengthReason !== undefined) {
      throw new InvalidAccessTokenError(lengthReason);
    }

    // One audience per token: a token minted for several resource servers
    // could be replayed by any of them against the others.
    const audience = payload.aud;
    const audiences = Array.isArray(audience) ? audience : [audience];
    if (audiences.length !== 1) {
      throw new InvalidAccessTokenError('the access token\'s "aud" claim must name only this API');
    }

    // An `iat` in the future would let `exp` slip past the lifetime check below.
    if ((payload.iat as number) > Date.now() / 1000 + this.#options.clockToleranceSeconds) {
      throw new InvalidAccessTokenError('the access token\'s "iat" claim is in the future');
    }

    // A far-future `exp` is not a valid number of seconds for an access
    // token, whatever its type: it would outlive every revocation check.
    const lifetime = (payload.exp as number) - (payload.iat as number);
    if (!Number.isFinite(lifetime) || lifetime > this.#options.maxLifetimeSeconds) {
      throw new InvalidAccessTokenError('the access token\'s "exp" claim is too far after its "iat" claim');
    }

    const scope = payload['scope'];
    if (scope !== undefined && typeof scope !== 'string') {
      throw new InvalidAccessTokenError('the access token\'s "scope" claim is invalid');
    }

    // A user's token ends early only when its grant is revoked, so only a
    // client credentials token, whose client is its own subject, may lack one.
    const subject = requireString(payload, 'sub');
    const clientId = requireString(payload, 'client_id');
    const grantId = payload['grant_id'] === undefined ? undefined : requireString(payload, 'grant_id');
    if (grantId === undefined && subject !== clientId) {
      throw new InvalidAccessTokenError('the access token\'s "grant_id" claim is missing, which a token whose "sub" is not its "client_id" needs');
    }

    return deepFreeze({
      subject,
      clientId,
      jti: requireString(payload, 'jti'),
      grantId,
      scopes: scope === undefined || scope === '' ? [] : scope.split(' '),
      roles: requireStringArray(payload['roles'], 'roles'),
      expiresAt: payload.exp as number,
      notBefore: payload.nbf,
      payload,
    });
  }
}
