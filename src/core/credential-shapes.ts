/**
 * The shapes of the credentials that Portcullis issues, to recognize one
 * where it does not belong, such as in a query string, without checking it.
 */

import { API_KEY_PREFIX } from './api-keys/format.js';

/**
 * A compact JWS: three base64url parts, the first a JSON header, as in
 * Portcullis access tokens. The signature may end in `=` padding, because
 * jose 6.2 on Node.js 20 decodes it with atob, which accepts padding. So a
 * padded token verifies with jose alone, though Portcullis rejects it.
 */
const COMPACT_JWS = /^eyJ[\w-]*\.[\w-]+\.[\w-]*=*$/;

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

/** An API key, or its start up to the key id, anywhere in a text. */
const EMBEDDED_API_KEY = /pcs_(?:live|test)_[0-9A-Za-z]{12}/;

/**
 * The start of a JWS header inside a part: `eyJ` at the start or after `_`
 * or `-`. After a letter or digit it is part of a word, as in `surveyJson`.
 */
const HEADER_START_IN_PART = /(?:^|[_-])eyJ/;

/**
 * Returns whether `text` contains a compact JWS after other text: a part
 * with a JWS header start in it, a dot, a non-empty part and another dot,
 * all in one run of base64url characters and dots. The runs and parts are
 * split rather than matched with one unanchored pattern, which would start
 * again at every `eyJ` and take quadratic time on a long run of them.
 */
function containsCompactJws(text: string): boolean {
  if (!text.includes(COMPACT_JWS_START)) {
    return false;
  }

  for (const run of text.split(/[^\w.-]+/)) {
    const parts = run.split('.');
    for (let index = 0; index + 2 < parts.length; index += 1) {
      if (HEADER_START_IN_PART.test(parts[index] ?? '') && parts[index + 1] !== '') {
        return true;
      }
    }
  }
  return false;
}

/**
 * Returns whether `text` starts as an API key or contains one after other
 * text, as in `Bearer pcs_live_…` or `key:pcs_live_…` pasted into a query
 * value.
 */
export function containsApiKey(text: string): boolean {
  return looksLikeApiKey(text) || (text.includes(API_KEY_START) && EMBEDDED_API_KEY.test(text));
}

/** Returns whether `text` has the shape of an API key or of a JWT access token, or contains one after other text. */
export function containsCredential(text: string): boolean {
  return containsApiKey(text) || COMPACT_JWS.test(text) || containsCompactJws(text);
}

/**
 * A client secret as Portcullis issues it, and an opaque token or code as
 * oidc-provider issues it (refresh tokens, authorization codes): 43
 * base64url characters, 256 bits. No client id that Portcullis issues has
 * this shape, because those are 22 characters long.
 */
const OPAQUE_SECRET = /^[\w-]{43}$/;

/**
 * Returns the kind of secret whose shape `text` has, as a noun phrase for
 * messages, or undefined when it has none. A password has no shape, so it
 * is not recognized here.
 */
export function secretShape(text: string): string | undefined {
  if (looksLikeApiKey(text)) {
    return 'an API key';
  }
  if (COMPACT_JWS.test(text)) {
    return 'a JWT such as an access token';
  }
  if (OPAQUE_SECRET.test(text)) {
    return 'a client secret or a refresh token';
  }
  return undefined;
}

/**
 * Credential shapes anywhere inside a longer text: an API key or its start,
 * a compact JWS, and a run of exactly 43 base64url characters. The last
 * also matches RFC 7638 key thumbprints, which are public, so use this only
 * on text such as error messages that never needs to show one.
 */
const EMBEDDED_SECRETS = [/pcs_\w+/g, /eyJ[\w-]*\.[\w-]+\.[\w-]*/g, /(?<![\w-])[\w-]{43}(?![\w-])/g];

/** Returns `text` with every part that has the shape of a credential replaced by `replacement`. */
export function redactEmbeddedSecrets(text: string, replacement: string): string {
  return EMBEDDED_SECRETS.reduce((redacted, pattern) => redacted.replace(pattern, replacement), text);
}
