/**
 * Checks of percent-encoded text in query strings and form bodies, where
 * parsers differ on malformed escapes. Fastify's query parser
 * (fast-querystring) keeps a whole name or value undecoded when one escape
 * in it is malformed. URLSearchParams and Python's parse_qs decode the
 * escapes around it, and lenient decoders read overlong UTF-8 such as
 * `%C0%AE` as `.`.
 */

/** A run of consecutive percent-encoded bytes. */
const PERCENT_ENCODED_RUN = /(?:%[0-9A-Fa-f]{2})+/g;

/** A `%` that does not start an escape of two hexadecimal digits. */
const STRAY_PERCENT = /%(?![0-9A-Fa-f]{2})/;

/**
 * Tells whether each run of escapes in `text` decodes as UTF-8. Text
 * outside the escapes must be whole characters already, so each run must
 * decode on its own.
 */
export function hasUtf8Escapes(text: string): boolean {
  for (const [run] of text.matchAll(PERCENT_ENCODED_RUN)) {
    try {
      decodeURIComponent(run);
    } catch {
      return false;
    }
  }
  return true;
}

/** Tells whether every `%` in `text` starts a two-digit escape and the escapes decode as UTF-8. */
export function isStrictlyPercentEncoded(text: string): boolean {
  return !STRAY_PERCENT.test(text) && hasUtf8Escapes(text);
}
