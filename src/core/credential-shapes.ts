/**
 * The shapes of the credentials that Portcullis issues, to recognize one
 * where it does not belong, such as in a query string, without checking it.
 */

import { API_KEY_PREFIX } from './api-keys/format.js';

/** A compact JWS: three base64url parts, the first a JSON header, as in Portcullis access tokens. */
const COMPACT_JWS = /^eyJ[\w-]*\.[\w-]+\.[\w-]*$/;

/** Returns whether `text` starts as a Portcullis API key does. */
export function looksLikeApiKey(text: string): boolean {
  return text.startsWith(`${API_KEY_PREFIX}_`);
}

/** Returns whether `text` has the shape of an API key or of a JWT access token. */
export function looksLikeCredential(text: string): boolean {
  return looksLikeApiKey(text) || COMPACT_JWS.test(text);
}
