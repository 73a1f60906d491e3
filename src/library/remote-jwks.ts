import { createRemoteJWKSet, customFetch, type FetchImplementation, type JWTVerifyGetKey } from 'jose';

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

/** How long fetched keys are used before they are fetched again, in milliseconds. */
const CACHE_MAX_AGE_MS = 10 * 60 * 1000;
/** Shortest time between two fetches caused by an unknown `kid`, in milliseconds. */
const COOLDOWN_MS = 30_000;

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'an invalid URL';
  }
}

/**
 * Creates a key resolver for jose that fetches a remote JWK Set through the
 * outbound guard, so the URL and every redirect are checked against
 * `policy`. Keys are cached for 10 minutes and fetched again, at most every
 * 30 seconds, when a token names an unknown `kid` (jose's remote JWK Set).
 *
 * When the fetch fails, returns a status other than 200 or returns no
 * JSON, verification throws KeySetUnavailableError.
 */
export function remoteJwks(url: string, policy: OutboundPolicy = {}): JWTVerifyGetKey {
  const client = new OutboundClient(policy);

  const fetchThroughGuard: FetchImplementation = async (resource, init) => {
    let body: unknown;
    try {
      const response = await client.fetch(resource, { method: 'GET', headers: Object.fromEntries(init.headers.entries()) });
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

    return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
  };

  return createRemoteJWKSet(new URL(url), {
    cacheMaxAge: CACHE_MAX_AGE_MS,
    cooldownDuration: COOLDOWN_MS,
    [customFetch]: fetchThroughGuard,
  });
}
