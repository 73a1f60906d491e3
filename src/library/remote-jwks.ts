import {
  createRemoteJWKSet,
  customFetch,
  jwksCache,
  type ExportedJWKSCache,
  type FetchImplementation,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';

import { OutboundClient } from '../core/outbound/client.js';
import { OutboundError } from '../core/outbound/errors.js';
import type { OutboundPolicy } from '../core/outbound/policy.js';

/** A JWK Set that could not be fetched or parsed: the service, not the caller, is at fault. */
export class KeySetUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KeySetUnavailableError';
  }
}

/** Maximum age of the keys in use, in milliseconds. Older keys are fetched again before a verification. */
const CACHE_MAX_AGE_MS = 10 * 60 * 1000;
/** Age after which a verification starts a fetch of the keys in the background, in milliseconds. */
const REFRESH_AFTER_MS = 5 * 60 * 1000;
/** Shortest time between two background fetches, in milliseconds. */
const COOLDOWN_MS = 30_000;
/**
 * Shortest time between a successful fetch and one caused by an unknown
 * `kid`, in milliseconds. Portcullis publishes a new signing key up to 2
 * seconds after a rotation and signs with it 5 seconds after, so keys
 * fetched in between must be fetched again within 3 seconds, or its first
 * tokens are rejected.
 */
const UNKNOWN_KEY_COOLDOWN_MS = 1000;
/**
 * How long the error of a failed fetch is reused instead of fetching again,
 * in milliseconds: the `Retry-After` that callers get. Without it, every
 * request would fetch again while the issuer is down.
 */
const FAILURE_REUSE_MS = 5000;

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'an invalid URL';
  }
}

/** Tells whether `value` has the shape of a JWK Set: an object whose `keys` is an array of objects. */
function isKeySet(value: unknown): value is JSONWebKeySet {
  if (value === null || typeof value !== 'object' || !('keys' in value) || !Array.isArray(value.keys)) {
    return false;
  }
  return value.keys.every((key: unknown) => key !== null && typeof key === 'object' && !Array.isArray(key));
}

/** Options of a remote JWK Set. */
export interface RemoteJwksOptions {
  /** Called with the error of a failed background fetch, after which the current keys stay in use. */
  onBackgroundFailure?: (error: unknown) => void;
}

/** A key resolver for jose over a remote JWK Set, which also returns the keys it currently uses. */
export type RemoteKeySet = JWTVerifyGetKey & {
  /**
   * Returns the JWK Set that verifications use, or undefined when none is
   * usable without a fetch (before the first one, or at the maximum age).
   * It is the same object until a fetch brings keys that differ from it, so
   * a cache of verified tokens can compare it by identity and stays filled
   * across routine fetches. Like a verification, it starts a background
   * fetch of old keys.
   */
  jwks(): Readonly<JSONWebKeySet> | undefined;
};

/**
 * Creates a key resolver for jose that fetches a remote JWK Set through the
 * outbound guard, so the URL and every redirect are checked against
 * `policy`. Keys are fetched again, at most once a second after a
 * successful fetch, when a token names an unknown `kid` (jose's remote JWK
 * Set).
 *
 * Verifications do not wait for routine fetches: once the keys are 5
 * minutes old, the next verification starts a fetch in the background and
 * goes on with the keys it has. A verification waits only for the first
 * fetch, for an unknown `kid`, and for keys that reached 10 minutes because
 * no background fetch succeeded in between.
 *
 * When the fetch fails, returns a status other than 200 or returns no JWK
 * Set, verification throws KeySetUnavailableError, and the same error for
 * the next 5 seconds without another fetch. A failed background fetch goes
 * to `options.onBackgroundFailure`.
 */
export function remoteJwks(url: string, policy: OutboundPolicy = {}, options: RemoteJwksOptions = {}): RemoteKeySet {
  const client = new OutboundClient(policy);
  let failure: { error: KeySetUnavailableError; at: number } | undefined;

  const fetchKeySet = async (resource: string, headers: Headers): Promise<JSONWebKeySet> => {
    let body: unknown;
    try {
      const response = await client.fetch(resource, { method: 'GET', headers: Object.fromEntries(headers.entries()) });
      if (response.status !== 200) {
        throw new KeySetUnavailableError(`Fetching the JWK Set from ${hostOf(resource)} failed with HTTP status ${response.status}.`);
      }
      body = JSON.parse(response.body.toString('utf8'));
    } catch (error) {
      if (error instanceof KeySetUnavailableError) {
        throw error;
      }
      const reason = error instanceof OutboundError ? error.message : 'the response is not JSON';
      throw new KeySetUnavailableError(`Fetching the JWK Set from ${hostOf(resource)} failed: ${reason}`, { cause: error });
    }

    if (!isKeySet(body)) {
      throw new KeySetUnavailableError(`The response from ${hostOf(resource)} is not a JWK Set.`);
    }
    return body;
  };

  const fetchThroughGuard: FetchImplementation = async (resource, init) => {
    if (failure !== undefined && Date.now() - failure.at < FAILURE_REUSE_MS) {
      throw failure.error;
    }

    let keySet: JSONWebKeySet;
    try {
      keySet = await fetchKeySet(resource, init.headers);
    } catch (error) {
      failure = { error: error as KeySetUnavailableError, at: Date.now() };
      throw error;
    }

    failure = undefined;
    return new Response(JSON.stringify(keySet), { status: 200, headers: { 'content-type': 'application/json' } });
  };

  // jose writes the time and the key set of each fetch here in the
  // synchronous step in which it starts using the new keys. So the object
  // changes on every fetch, and the keys in use never change without it.
  const lastFetch: ExportedJWKSCache | Record<string, never> = {};
  const keySet = createRemoteJWKSet(new URL(url), {
    cacheMaxAge: CACHE_MAX_AGE_MS,
    cooldownDuration: UNKNOWN_KEY_COOLDOWN_MS,
    [customFetch]: fetchThroughGuard,
    [jwksCache]: lastFetch,
  });

  let backgroundFetchAt = 0;
  const refreshAhead = () => {
    // A fetch in flight is left to finish without using up the cooldown.
    const time = Date.now();
    const fetchedAt = lastFetch.uat;
    if (fetchedAt === undefined || time - fetchedAt < REFRESH_AFTER_MS || time - backgroundFetchAt < COOLDOWN_MS || keySet.reloading) {
      return;
    }

    backgroundFetchAt = time;
    // A failed fetch keeps the current keys until they reach the maximum
    // age, when a verification fetches them itself and reports the failure.
    keySet.reload().catch((error: unknown) => options.onBackgroundFailure?.(error));
  };

  const resolve: JWTVerifyGetKey = (protectedHeader, token) => {
    refreshAhead();
    return keySet(protectedHeader, token);
  };
  // The key set handed out, with the fetched object and its JSON text. A
  // fetch that brings the same keys keeps it, so that verified tokens stay
  // cached. Any change to the keys replaces it.
  let current: { fetched: object; text: string; jwks: JSONWebKeySet } | undefined;
  const sameUnlessChanged = (fetched: JSONWebKeySet): JSONWebKeySet => {
    if (fetched === current?.fetched) {
      return current.jwks;
    }

    const text = JSON.stringify(fetched);
    current = text === current?.text ? { ...current, fetched } : { fetched, text, jwks: fetched };
    return current.jwks;
  };

  const usableKeySet = () => {
    refreshAhead();
    const fetchedAt = lastFetch.uat;
    const fetched = lastFetch.jwks;
    if (fetchedAt === undefined || fetched === undefined || Date.now() - fetchedAt >= CACHE_MAX_AGE_MS) {
      return undefined;
    }
    return sameUnlessChanged(fetched);
  };
  return Object.assign(resolve, { jwks: usableKeySet });
}
