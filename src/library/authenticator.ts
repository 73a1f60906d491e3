import type { JSONWebKeySet } from 'jose';

import { AccessTokenVerifier } from '../core/access-token-verifier.js';
import { CachingTokenVerifier, type TokenVerifier } from '../core/cache/token-cache.js';
import { bearerChallenge } from '../core/bearer.js';
import {
  IDENTITY_ASSERTION_HEADER,
  IdentityAssertionVerifier,
  InvalidIdentityAssertionError,
  ReplayStoreUnavailableError,
  type AssertionReplayStore,
  type IdentityAssertionVerifierOptions,
} from '../core/identity-assertion.js';
import type { CredentialKind, Identity } from '../core/identity-headers.js';
import { UnusableKeyError } from '../core/jwt-errors.js';
import type { OutboundPolicy } from '../core/outbound/policy.js';
import { ProblemError } from '../core/problem.js';
import { REALM, authenticate, type AuthenticationDependencies, type AuthenticationRequest } from '../gateway/authenticate.js';
import type { ApiKeyStore } from './api-key-store.js';
import { GrantCheckUnavailableError, guardGrantCheck } from './grant-check.js';
import { KeySetUnavailableError, remoteJwks, type RemoteJwksOptions } from './remote-jwks.js';
import {
  requireAbsoluteUrl,
  requireAlgorithms,
  requireApiKeyStore,
  requireGrantCheck,
  requireKeySet,
  requireOpenUrl,
  requireText,
  requireWholeNumber,
} from './setting-checks.js';

/** JWT access tokens (RFC 9068) from Portcullis or another issuer, verified against its JWKS URL. */
export interface AccessTokenSettings {
  issuer: string;
  /** The `aud` the tokens must carry: this API's identifier, for example `https://id.example.com/api`. */
  audience: string;
  /** URL of the issuer's JWK Set, fetched through the outbound guard. */
  jwksUrl: string;
  /** Accepted JWS algorithms. Default `ES256`. */
  algorithms?: readonly string[];
  /** Accepted clock difference, in whole seconds from 0 to 60. Default 5. */
  clockToleranceSeconds?: number;
  /** Longest accepted token lifetime, in whole seconds. Default 3600. */
  maxLifetimeSeconds?: number;
  /** Limits of the JWKS fetch. Default: https on port 443 to public addresses only. */
  outbound?: OutboundPolicy;
  /**
   * Most verified tokens kept, keyed by their SHA-256, so that a repeated
   * token skips its signature check until its `exp`. The cache empties on
   * every fetch of the key set and serves nothing while the keys are too
   * old to use. Default 10000, and 0 checks every signature.
   */
  tokenCacheSize?: number;
  /**
   * Tells whether the grant behind a token is still active. Default: every
   * grant counts as active until its tokens expire, because a service
   * without access to the issuer's store cannot see revocations. When it
   * throws or rejects, the request gets 503 with `Retry-After: 5`.
   */
  isGrantActive?: (grantId: string) => Promise<boolean>;
}

/** The gateway's signed identity assertions, for services behind Portcullis. */
export interface IdentityAssertionSettings {
  /** The gateway's issuer URL. */
  issuer: string;
  /** The API's identifier, the gateway's `audience` setting (default `<issuer>/api`). */
  audience: string;
  /** The gateway's assertion keys, fetched from `<issuer>/.well-known/portcullis-identity-jwks.json`. */
  jwksUrl?: string;
  /** The gateway's assertion keys as a JWK Set, in place of `jwksUrl`. */
  jwks?: JSONWebKeySet;
  /** Limits of the JWKS fetch. Default: https on port 443 to public addresses only. */
  outbound?: OutboundPolicy;
  /** Longest accepted assertion lifetime, in seconds. Default 60. */
  maxLifetimeSeconds?: number;
  /** How many used assertion ids are remembered to reject replays. Default 100000. */
  replayCacheSize?: number;
  /**
   * A record of used assertion ids that all instances of the service share,
   * such as `new RedisAssertionReplayStore(redis)`. Default: a record in
   * this process, so each instance accepts an assertion once.
   */
  replayStore?: AssertionReplayStore;
  /**
   * The name of this service's entry in the gateway's `upstreams` (`default`
   * for the shorthand settings). When set, assertions the gateway signed
   * for another upstream are rejected. Default: assertions for any upstream.
   */
  upstream?: string;
}

/** The credentials a service accepts. At least one must be set. */
export interface AuthenticatorSettings {
  accessTokens?: AccessTokenSettings;
  identityAssertions?: IdentityAssertionSettings;
  /** Portcullis's API key store, from `openApiKeyStore`. */
  apiKeys?: Pick<ApiKeyStore, 'verify'>;
}

/** A request as the authenticator reads it; adapters build it from Express and Fastify requests. */
export interface CredentialRequest extends AuthenticationRequest {
  method: string;
  /** Request target in origin form: path and query, as received. */
  url: string;
}

/** The authenticated caller, and the gateway's request id when the caller came through the gateway. */
export interface Authentication {
  identity: Identity;
  gatewayRequestId: string | undefined;
}

const DEFAULT_ALGORITHMS = ['ES256'];
const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5;
const DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 3600;
const DEFAULT_TOKEN_CACHE_SIZE = 10_000;
/** Largest accepted clock difference, in seconds, as in the gateway's `clockToleranceSeconds`. */
const MAX_CLOCK_TOLERANCE_SECONDS = 60;

/** The logger that receives failed background fetches of remote key sets. Pino and console both fit. */
export interface KeySetLog {
  warn(details: Record<string, unknown>, message: string): void;
}

/** Reports a failed background fetch of the key set at `url` to `log`, naming only its host. */
function keySetOptions(url: string, log: KeySetLog | undefined): RemoteJwksOptions {
  return {
    onBackgroundFailure: (error) => {
      log?.warn({ err: error, jwksHost: new URL(url).host }, 'background fetch of the JWK Set failed; the current keys stay in use');
    },
  };
}

function assertionKeys(settings: IdentityAssertionSettings, log: KeySetLog | undefined): IdentityAssertionVerifier {
  if ((settings.jwksUrl === undefined) === (settings.jwks === undefined)) {
    throw new RangeError('identityAssertions needs exactly one of jwksUrl and jwks.');
  }

  const maxLifetimeSeconds = settings.maxLifetimeSeconds === undefined ? undefined : requireWholeNumber('identityAssertions.maxLifetimeSeconds', settings.maxLifetimeSeconds, 1);
  const replayCacheSize = settings.replayCacheSize === undefined ? undefined : requireWholeNumber('identityAssertions.replayCacheSize', settings.replayCacheSize, 1);
  if (settings.upstream !== undefined && (typeof settings.upstream !== 'string' || settings.upstream === '')) {
    throw new RangeError(`identityAssertions.upstream must be the name of an upstream in the gateway's configuration, got ${JSON.stringify(settings.upstream)}.`);
  }
  const issuer = requireText('identityAssertions.issuer', settings.issuer, 'https://id.example.com');
  const audience = requireText('identityAssertions.audience', settings.audience, 'https://id.example.com/api');
  let keys: IdentityAssertionVerifierOptions['keys'];
  if (settings.jwks === undefined) {
    const jwksUrl = requireAbsoluteUrl('identityAssertions.jwksUrl', settings.jwksUrl, 'https://id.example.com/.well-known/portcullis-identity-jwks.json');
    requireOpenUrl('identityAssertions.jwksUrl', jwksUrl, 'identityAssertions.outbound', settings.outbound);
    keys = remoteJwks(jwksUrl, settings.outbound, keySetOptions(jwksUrl, log));
  } else {
    requireKeySet('identityAssertions.jwks', settings.jwks);
    keys = settings.jwks;
  }
  return new IdentityAssertionVerifier({
    issuer,
    audience,
    keys,
    maxLifetimeSeconds,
    replayCacheSize,
    replayStore: settings.replayStore,
    upstream: settings.upstream,
  });
}

function accessTokenVerifier(settings: AccessTokenSettings, log: KeySetLog | undefined): TokenVerifier {
  const cacheSize = requireWholeNumber('accessTokens.tokenCacheSize', settings.tokenCacheSize ?? DEFAULT_TOKEN_CACHE_SIZE, 0);
  const clockToleranceSeconds = requireWholeNumber(
    'accessTokens.clockToleranceSeconds',
    settings.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS,
    0,
    MAX_CLOCK_TOLERANCE_SECONDS,
  );
  const maxLifetimeSeconds = requireWholeNumber('accessTokens.maxLifetimeSeconds', settings.maxLifetimeSeconds ?? DEFAULT_MAX_TOKEN_LIFETIME_SECONDS, 1);

  const issuer = requireText('accessTokens.issuer', settings.issuer, 'https://id.example.com');
  const audience = requireText('accessTokens.audience', settings.audience, 'https://id.example.com/api');
  const jwksUrl = requireAbsoluteUrl('accessTokens.jwksUrl', settings.jwksUrl, 'https://id.example.com/.well-known/jwks.json');
  requireOpenUrl('accessTokens.jwksUrl', jwksUrl, 'accessTokens.outbound', settings.outbound);

  const keys = remoteJwks(jwksUrl, settings.outbound, keySetOptions(jwksUrl, log));
  const algorithms = requireAlgorithms(settings.algorithms ?? DEFAULT_ALGORITHMS);
  const verifier = new AccessTokenVerifier({
    issuer,
    audience,
    algorithms,
    clockToleranceSeconds,
    maxLifetimeSeconds: maxLifetimeSeconds + clockToleranceSeconds,
    jwks: { resolver: keys },
  });
  if (cacheSize === 0) {
    return verifier;
  }

  // The key set object changes when a fetch brings other keys, and none is
  // given while the keys are too old to use. So the cache empties when a
  // key is removed, added or changed, and serves nothing until the keys are
  // fetched again.
  return new CachingTokenVerifier(verifier, { maxEntries: cacheSize, keySet: () => keys.jwks(), algorithms });
}

/** Shortest time between two log lines about one unavailable dependency, in milliseconds: the time a failed fetch is reused. */
const UNAVAILABLE_LOG_INTERVAL_MS = 5000;

/**
 * Logs an unavailable dependency, such as the verification keys, at most
 * once per interval, with the number of requests that failed the same way
 * in between, because a line for every failed request would flood the log.
 */
class UnavailableLog {
  readonly #message: string;
  #loggedAt = Number.NEGATIVE_INFINITY;
  #suppressed = 0;

  constructor(message: string) {
    this.#message = message;
  }

  report(error: Error, request: CredentialRequest): void {
    const now = Date.now();
    if (now - this.#loggedAt < UNAVAILABLE_LOG_INTERVAL_MS) {
      this.#suppressed += 1;
      return;
    }

    request.log.warn({ err: error, suppressedSinceLastLog: this.#suppressed }, this.#message);
    this.#loggedAt = now;
    this.#suppressed = 0;
  }
}

function unavailable(error: Error, request: CredentialRequest, log: UnavailableLog, detail: string): ProblemError {
  log.report(error, request);
  return new ProblemError('service_unavailable', detail, { headers: { 'retry-after': '5' } });
}

const KEYS_UNAVAILABLE = 'The keys to verify the credential could not be fetched or used. Retry shortly.';
const REPLAY_STORE_UNAVAILABLE = 'The record of used identity assertions could not be reached. Retry shortly.';
const GRANT_CHECK_UNAVAILABLE = "The check of the token's grant failed. Retry shortly.";

/**
 * Returns the 401 for a request that reached a protected handler without an
 * authenticated caller, such as a handler that reads the identity on a
 * public route. Its challenge tells the client to send a bearer credential.
 */
export function missingCallerProblem(): ProblemError {
  return new ProblemError('unauthorized', 'This route has no authenticated caller.', {
    headers: { 'www-authenticate': bearerChallenge({ realm: REALM }) },
  });
}

function singleHeader(request: CredentialRequest, name: string): string | undefined {
  const values: string[] = [];
  const raw = request.raw.rawHeaders;
  for (let index = 0; index < raw.length; index += 2) {
    if (raw[index]?.toLowerCase() === name) {
      values.push(raw[index + 1] ?? '');
    }
  }

  if (values.length > 1) {
    throw new ProblemError('invalid_request', `Send exactly one ${name} header.`, {
      headers: { 'www-authenticate': bearerChallenge({ realm: REALM, error: 'invalid_request' }) },
    });
  }
  return values[0];
}

/**
 * Establishes the caller of a request from one accepted credential, or
 * throws a ProblemError. The status is 401 for a missing, invalid, forged,
 * expired or re-bound credential, 400 for credentials that cannot be read
 * (such as two Authorization headers), 403 for an API key used from a
 * disallowed address, and 503 when verification keys cannot be fetched or
 * the grant check fails.
 *
 * A request with an identity assertion is judged by the assertion alone.
 */
export class Authenticator {
  readonly #assertions: IdentityAssertionVerifier | undefined;
  readonly #dependencies: AuthenticationDependencies;
  readonly #accepted: CredentialKind[];
  readonly #keysUnavailableLog = new UnavailableLog('verification keys unavailable');
  readonly #replayStoreUnavailableLog = new UnavailableLog('record of used identity assertions unavailable');
  readonly #grantCheckUnavailableLog = new UnavailableLog('grant check unavailable');

  constructor(settings: AuthenticatorSettings, log?: KeySetLog) {
    if (settings === null || typeof settings !== 'object' || (settings.accessTokens === undefined && settings.identityAssertions === undefined && settings.apiKeys === undefined)) {
      throw new RangeError('Configure at least one of accessTokens, identityAssertions and apiKeys.');
    }

    if (settings.apiKeys !== undefined) {
      requireApiKeyStore(settings.apiKeys);
    }
    if (settings.accessTokens?.isGrantActive !== undefined) {
      requireGrantCheck(settings.accessTokens.isGrantActive);
    }
    this.#assertions = settings.identityAssertions === undefined ? undefined : assertionKeys(settings.identityAssertions, log);
    const grantCheck = settings.accessTokens?.isGrantActive;
    const isGrantActive = grantCheck === undefined ? async () => true : guardGrantCheck(grantCheck);
    this.#dependencies = {
      ...(settings.accessTokens === undefined ? {} : { verifier: accessTokenVerifier(settings.accessTokens, log) }),
      ...(settings.apiKeys === undefined ? {} : { apiKeys: settings.apiKeys }),
      isGrantActive,
      // Without the issuer's client registry, a client credentials token is trusted until it expires.
      isClientActive: async () => true,
    };
    this.#accepted = [
      ...(settings.accessTokens === undefined ? [] : (['jwt'] as const)),
      ...(settings.apiKeys === undefined ? [] : (['api_key'] as const)),
    ];
  }

  async authenticate(request: CredentialRequest): Promise<Authentication> {
    try {
      const assertion = this.#assertions === undefined ? undefined : singleHeader(request, IDENTITY_ASSERTION_HEADER);
      if (assertion !== undefined) {
        return await this.#verifyAssertion(assertion, request);
      }

      if (this.#accepted.length === 0) {
        throw new ProblemError('unauthorized', 'The request has no identity assertion. Send it through the Portcullis gateway.', {
          headers: { 'www-authenticate': bearerChallenge({ realm: REALM }) },
        });
      }

      const identity = await authenticate(request, this.#dependencies, this.#accepted);
      return { identity, gatewayRequestId: undefined };
    } catch (error) {
      if (error instanceof KeySetUnavailableError) {
        throw unavailable(error, request, this.#keysUnavailableLog, KEYS_UNAVAILABLE);
      }
      if (error instanceof ReplayStoreUnavailableError) {
        throw unavailable(error, request, this.#replayStoreUnavailableLog, REPLAY_STORE_UNAVAILABLE);
      }
      if (error instanceof GrantCheckUnavailableError) {
        throw unavailable(error, request, this.#grantCheckUnavailableLog, GRANT_CHECK_UNAVAILABLE);
      }
      // A malformed point, a private key or a short RSA key in the key set
      // is a fault of the key set, not of the request.
      if (error instanceof UnusableKeyError) {
        throw unavailable(error, request, this.#keysUnavailableLog, KEYS_UNAVAILABLE);
      }
      throw error;
    }
  }

  async #verifyAssertion(assertion: string, request: CredentialRequest): Promise<Authentication> {
    try {
      const verified = await (this.#assertions as IdentityAssertionVerifier).verify(assertion, request.method, request.url);
      return { identity: verified.identity, gatewayRequestId: verified.requestId };
    } catch (error) {
      if (!(error instanceof InvalidIdentityAssertionError)) {
        throw error;
      }

      request.log.info({ reason: error.reason }, 'identity assertion rejected');
      const detail = `The identity assertion is invalid: ${error.reason}.`;
      throw new ProblemError('unauthorized', detail, {
        headers: { 'www-authenticate': bearerChallenge({ realm: REALM, error: 'invalid_token', description: detail }) },
      });
    }
  }
}
