/**
 * Checks of the library's credential settings, run when a service starts,
 * so that a mistake stops the start with the setting's name instead of
 * failing, or passing, every request.
 */

import { OutboundError } from '../core/outbound/errors.js';
import { resolvePolicy, type OutboundPolicy } from '../core/outbound/policy.js';
import { checkUrl } from '../core/outbound/target.js';

/**
 * Throws a RangeError unless `value` is a whole number from `min` to `max`.
 * jose reads a string such as '5s' as a duration, but the verifiers' lifetime
 * checks add the value to numbers, and with a string they never fail. NaN
 * would fail every request with a 500, so both are rejected at start.
 */
export function requireWholeNumber(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `of ${min} or more` : `from ${min} to ${max}`;
    throw new RangeError(`${name} must be a whole number ${range}, got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}.`);
  }
  return value;
}

/**
 * The public key JWS algorithms that jose (6.2) verifies, by their
 * case-sensitive names. The ML-DSA ones need a runtime whose Web Crypto
 * API has ML-DSA, which Node.js 20 lacks.
 */
const PUBLIC_KEY_JWS_ALGORITHMS: ReadonlySet<string> = new Set([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
  'ML-DSA-44',
  'ML-DSA-65',
  'ML-DSA-87',
]);

/**
 * Throws a RangeError unless `value` lists JWS algorithms that a public key
 * verifies. The keys come from a public JWK Set, so `none` and the HMAC
 * algorithms (`HS256` and the like) could never verify a token. Neither
 * could a misspelt name, an encryption algorithm such as `RSA-OAEP-256`,
 * or one that jose does not implement. A single string would be read as a
 * list of its characters.
 */
export function requireAlgorithms(value: unknown): readonly string[] {
  const valid = Array.isArray(value) && value.length > 0 && value.every((algorithm) => typeof algorithm === 'string' && PUBLIC_KEY_JWS_ALGORITHMS.has(algorithm));
  if (!valid) {
    throw new RangeError(
      `accessTokens.algorithms must be a list of public key JWS algorithms such as ['ES256'], got ${JSON.stringify(value)}. ` +
        `The algorithms are ${[...PUBLIC_KEY_JWS_ALGORITHMS].join(', ')}.`,
    );
  }
  return value;
}

/**
 * Throws a RangeError unless `value` is a non-empty string. jose checks
 * `iss` and `aud` only when it is given an expected value, so a missing
 * issuer or audience would accept tokens minted for any issuer or API.
 */
export function requireText(name: string, value: unknown, example: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new RangeError(`${name} must be a non-empty string such as '${example}', got ${JSON.stringify(value) ?? 'undefined'}.`);
  }
  return value;
}

/** Throws a RangeError unless `value` is an absolute URL, such as the URL of a JWK Set. */
export function requireAbsoluteUrl(name: string, value: unknown, example: string): string {
  if (typeof value !== 'string' || !URL.canParse(value)) {
    throw new RangeError(`${name} must be an absolute URL such as ${example}, got ${JSON.stringify(value) ?? 'undefined'}.`);
  }
  return value;
}

/** Returns the change to an outbound policy that lets it fetch the URL that `error` blocked, or undefined when none can. */
function outboundFix(error: OutboundError, port: string): string | undefined {
  switch (error.code) {
    case 'OUTBOUND_BLOCKED_SCHEME':
      return 'set allowHttp: true';
    case 'OUTBOUND_BLOCKED_PORT':
      return `add ${port} to allowedPorts`;
    case 'OUTBOUND_BLOCKED_HOST':
    case 'OUTBOUND_BLOCKED_ADDRESS':
      if (error.rule === 'notAllowListed') {
        return `add { name: '${error.host}' } to allowedHosts`;
      }
      // Cloud metadata addresses stay blocked even for internal hosts.
      return error.rule === 'cloudMetadata' ? undefined : `add { name: '${error.host}', allowInternal: true } to allowedHosts`;
    default:
      return undefined;
  }
}

/**
 * Throws a RangeError when the outbound policy blocks `url` by a rule that
 * needs no DNS (scheme, port, allow-list, an internal IP address or name).
 * Such a URL could never be fetched, so every request would get 503.
 */
export function requireOpenUrl(name: string, url: string, policyName: string, policy: OutboundPolicy | undefined): void {
  try {
    checkUrl(url, resolvePolicy(policy ?? {}));
  } catch (error) {
    if (!(error instanceof OutboundError)) {
      throw error;
    }

    // The outbound guard rejects a URL with user info, whose password the message must not repeat.
    const shown = new URL(url);
    shown.username = '';
    shown.password = '';
    const fix = outboundFix(error, shown.port);
    const hint = fix === undefined ? '' : ` To fetch it, ${fix} in ${policyName}.`;
    throw new RangeError(`${name} ${shown.href} is blocked by ${policyName}: ${error.message}${hint}`);
  }
}

/**
 * Throws a RangeError unless `value` is an API key store. The store comes
 * from an async function, so a forgotten `await` passes a promise, which
 * would fail every request that carries an API key with a 500.
 */
export function requireApiKeyStore(value: unknown): void {
  if (typeof (value as { then?: unknown } | null)?.then === 'function') {
    throw new RangeError('apiKeys is a promise: pass the store itself, as in apiKeys: await openApiKeyStore({ dataDir }).');
  }
  if (typeof (value as { verify?: unknown } | null)?.verify !== 'function') {
    throw new RangeError('apiKeys must be the store from await openApiKeyStore({ dataDir }), or an object with its verify method.');
  }
}

/** Throws a RangeError unless `value` is a function, which the verifier calls for every token with a `grant_id`. */
export function requireGrantCheck(value: unknown): void {
  if (typeof value !== 'function') {
    throw new RangeError(`accessTokens.isGrantActive must be a function that returns a promise of whether a grant is active, got ${JSON.stringify(value)}.`);
  }
}

/** Throws a RangeError unless `value` has the shape of a JWK Set: an object whose `keys` is a list. */
export function requireKeySet(name: string, value: unknown): void {
  if (value === null || typeof value !== 'object' || !Array.isArray((value as { keys?: unknown }).keys)) {
    throw new RangeError(`${name} must be a JWK Set such as { keys: [...] }, the document at the gateway's /.well-known/portcullis-identity-jwks.json.`);
  }
}
