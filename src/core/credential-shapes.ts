/**
 * The shapes of the credentials that Portcullis issues, to recognize one
 * where it does not belong, such as in a query string, without checking it.
 */

import { API_KEY_PREFIX } from './api-keys/format.js';

/** A compact JWS: three base64url parts, the first a JSON header, as in Portcullis access tokens. */
const COMPACT_JWS = /^eyJ[\w-]*\.[\w-]+\.[\w-]*$/;

/** The start of every Portcullis API key. */
const API_KEY_START = `${API_KEY_PREFIX}_`;

/** The start of a compact JWS, whose header is a base64url JSON object. */
const COMPACT_JWS_START = 'eyJ';

/** Returns whether `text` starts as a Portcullis API key does. */
export function looksLikeApiKey(text: string): boolean {
  return text.startsWith(API_KEY_START);
}

/**
 * Returns false when no part of `text`, as sent or percent-decoded, can have
 * the shape of a credential, so that a caller can skip splitting it. Without
 * a `%`, decoding only turns `+` into a space, which cannot form the start
 * of an API key and is not allowed in a compact JWS.
 */
export function mayContainCredential(text: string): boolean {
  return text.includes('%') || text.includes(API_KEY_START) || text.includes(COMPACT_JWS_START);
}

/** Returns whether `text` has the shape of an API key or of a JWT access token. */
export function looksLikeCredential(text: string): boolean {
  return looksLikeApiKey(text) || COMPACT_JWS.test(text);
}
