/**
 * Parsing of JSON request bodies at the gateway. The gateway forwards the
 * caller's bytes unchanged, so it accepts only a body that every JSON
 * parser reads the same way as its own. The body must be UTF-8 (RFC 8259
 * section 8.1), because an upstream that honours another charset would
 * decode other text than the gateway checked. A body that repeats a member name
 * in one object is rejected, because parsers differ in which value they
 * keep: JSON.parse keeps the last, and others keep the first or fail. So is
 * a string with an unpaired surrogate escape such as `\ud800`.
 */

import secureJson from 'secure-json-parse';

import { redactName, shorten } from '../validation-errors.js';
import { decodeUtf8 } from './utf8.js';

/** Returns the media type of a Content-Type value, lower-cased and without parameters. */
export function mediaType(contentType: string | undefined): string | undefined {
  return contentType?.split(';')[0]?.trim().toLowerCase();
}

/** Tells whether a lower-case media type is JSON: `application/json` or a `+json` suffix (RFC 6839). */
export function isJsonMediaType(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json');
}

/**
 * Tells whether some server may read a body with this Content-Type as JSON.
 * Laravel's Request::isJson looks for `/json` or `+json` anywhere in the
 * header, parameters included, so `text/plain; x=/json` counts.
 */
export function mayBeReadAsJson(contentType: string | undefined): boolean {
  const header = contentType?.toLowerCase() ?? '';
  return header.includes('/json') || header.includes('+json');
}

/** A JSON body, parsed and as text, or the reason it was rejected as invalid JSON. */
export type JsonBody = { ok: true; value: unknown; text: string } | { ok: false; detail: string };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const MINUS = 0x2d;
const POINT = 0x2e;
const DIGIT_ZERO = 0x30;
const DIGIT_NINE = 0x39;

/** The characters of a JSON number after its first (RFC 8259 section 6). */
const NUMBER_CHARACTER = /[0-9.eE+-]/;

/**
 * Returns the values of the charset parameters of a Content-Type,
 * lower-cased and unquoted, in order. Parsers that meet the parameter twice
 * differ in which value they keep, so every one is returned. That includes
 * `charset*`, the RFC 2231 form, which Django reads as the charset, so
 * `charset*=utf-8''utf-7` gives `utf-8''utf-7`.
 */
export function charsetsOf(contentType: string): string[] {
  if (!contentType.includes(';')) {
    return [];
  }

  const charsets: string[] = [];
  for (const parameter of contentType.split(';').slice(1)) {
    const separator = parameter.indexOf('=');
    const name = separator === -1 ? '' : parameter.slice(0, separator).trim().toLowerCase();
    if (name === 'charset' || name === 'charset*') {
      charsets.push(parameter.slice(separator + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase());
    }
  }
  return charsets;
}

/**
 * Returns the first charset parameter of a Content-Type other than UTF-8,
 * or undefined when every one is UTF-8 or there is none. The gateway reads
 * JSON and form bodies as UTF-8, and an upstream that honours another
 * charset would decode other text than the gateway checked.
 */
export function nonUtf8Charset(contentType: string): string | undefined {
  return charsetsOf(contentType).find((charset) => charset !== 'utf-8' && charset !== 'utf8');
}

/** Parses a JSON request body, rejecting invalid UTF-8, prototype keys and repeated member names. */
export function parseJsonBody(body: Buffer): JsonBody {
  // RFC 8259 section 8.1 allows a parser to drop a leading byte order mark, as decodeUtf8 does.
  const text = decodeUtf8(body);
  if (text === undefined) {
    return { ok: false, detail: 'The request body is not valid JSON: it is not valid UTF-8.' };
  }

  let value: unknown;
  try {
    value = secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (error) {
    const poisoned = /prototype|constructor/i.test((error as Error).message);
    return {
      ok: false,
      detail: poisoned ? 'The request body contains a forbidden key (__proto__ or constructor.prototype).' : 'The request body is not valid JSON.',
    };
  }

  if (SURROGATE_ESCAPE.test(text) && hasLoneSurrogate(value)) {
    return {
      ok: false,
      detail: 'The request body is not valid JSON: a string contains an unpaired surrogate escape (\\uD800 to \\uDFFF), which encodes no Unicode character.',
    };
  }

  const repeated = findRepeatedName(text);
  if (repeated !== undefined) {
    return { ok: false, detail: `The request body is not valid JSON: the member name '${shorten(redactName(repeated))}' appears twice in one object.` };
  }

  return { ok: true, value, text };
}

/**
 * An escape of a UTF-16 surrogate. Valid UTF-8 text encodes no surrogate,
 * so a lone surrogate in a parsed string can come only from such an escape.
 */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

/** A lone surrogate. A `u` pattern reads a valid pair as one code point, which this does not match. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Tells whether a member name or string of a parsed JSON value contains a
 * lone surrogate. RFC 8259 section 8.2 calls the handling of such strings
 * unpredictable. Go's encoding/json reads U+FFFD in its place and Rust's
 * serde_json rejects the text, so the upstream may read another value than
 * the one checked. The walk uses a stack, because the caller chooses the
 * nesting depth.
 */
function hasLoneSurrogate(root: unknown): boolean {
  const pending: unknown[] = [root];
  while (pending.length > 0) {
    const value = pending.pop();
    if (typeof value === 'string') {
      if (LONE_SURROGATE.test(value)) {
        return true;
      }
    } else if (Array.isArray(value)) {
      // One push per item, because spreading a long array as arguments overflows the call stack.
      for (const item of value) {
        pending.push(item);
      }
    } else if (value !== null && typeof value === 'object') {
      for (const [name, member] of Object.entries(value)) {
        if (LONE_SURROGATE.test(name)) {
          return true;
        }
        pending.push(member);
      }
    }
  }
  return false;
}

/**
 * Returns the first member name that occurs twice in one object of `text`,
 * compared after unescaping, or undefined when there is none. `text` must
 * be valid JSON, which lets the scan track only strings and brackets.
 */
export function findRepeatedName(text: string): string | undefined {
  // One entry per open bracket: the names seen so far in an object, or null for an array.
  const open: Array<Set<string> | null> = [];
  let expectName = false;

  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);

    if (code === QUOTE) {
      const start = index;
      index += 1;
      while (text.charCodeAt(index) !== QUOTE) {
        index += text.charCodeAt(index) === BACKSLASH ? 2 : 1;
      }
      if (expectName) {
        const token = text.slice(start, index + 1);
        const name = token.includes('\\') ? (JSON.parse(token) as string) : token.slice(1, -1);
        const names = open[open.length - 1] as Set<string>;
        if (names.has(name)) {
          return name;
        }
        names.add(name);
        expectName = false;
      }
    } else if (code === OPEN_OBJECT) {
      open.push(new Set());
      expectName = true;
    } else if (code === OPEN_ARRAY) {
      open.push(null);
      expectName = false;
    } else if (code === CLOSE_OBJECT || code === CLOSE_ARRAY) {
      open.pop();
      expectName = false;
    } else if (code === COMMA) {
      expectName = open[open.length - 1] instanceof Set;
    }
  }

  return undefined;
}

/** Returns the start and end (exclusive) of each number of `text`, which must be valid JSON. */
function numberSpans(text: string): Array<[start: number, end: number]> {
  const spans: Array<[number, number]> = [];

  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);

    if (code === QUOTE) {
      index += 1;
      while (text.charCodeAt(index) !== QUOTE) {
        index += text.charCodeAt(index) === BACKSLASH ? 2 : 1;
      }
    } else if (code === MINUS || (code >= DIGIT_ZERO && code <= DIGIT_NINE)) {
      const start = index;
      while (index + 1 < text.length && NUMBER_CHARACTER.test(text.charAt(index + 1))) {
        index += 1;
      }
      spans.push([start, index + 1]);
    }
  }

  return spans;
}

/**
 * Returns `text`, which must be valid JSON, with each number that has a
 * fraction or an exponent replaced by `null`. JSON.parse reads a number as
 * the nearest double, so it reads 41.99999999999999999 as the integer 42,
 * while jackson-databind reads it into a BigInteger as 41 (it truncates the
 * exact decimal value).
 */
export function withIntegerNumbersOnly(text: string): string {
  let result = '';
  let copiedUpTo = 0;

  for (const [start, end] of numberSpans(text)) {
    if (/[.eE]/.test(text.slice(start, end))) {
      result += `${text.slice(copiedUpTo, start)}null`;
      copiedUpTo = end;
    }
  }

  return copiedUpTo === 0 ? text : result + text.slice(copiedUpTo);
}

/**
 * Returns `digits` without its trailing zeros. A loop from the end, because
 * `/0+$/` tries every run of zeros to the end of the text, which takes time
 * quadratic in the length of `1000…0001`, a number a caller chooses.
 */
function withoutTrailingZeros(digits: string): string {
  let end = digits.length;
  while (end > 0 && digits.charCodeAt(end - 1) === DIGIT_ZERO) {
    end -= 1;
  }
  return digits.slice(0, end);
}

/** A JSON number: sign, integer digits, fraction digits and exponent. */
const JSON_NUMBER = /^(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/;

/**
 * Returns the exact decimal value of a JSON number as its significant
 * digits and a power of ten (`-15e-1` for `-1.50`), or undefined for text
 * that is no JSON number, such as `Infinity`.
 */
function decimalValue(text: string): string | undefined {
  const parts = JSON_NUMBER.exec(text);
  if (parts === null) {
    return undefined;
  }

  const [, sign = '', whole = '', fraction = '', exponent = '0'] = parts;
  const digits = `${whole}${fraction}`.replace(/^0+/, '');
  if (digits === '') {
    return '0';
  }
  const significant = withoutTrailingZeros(digits);
  const power = Number(exponent) - fraction.length + (digits.length - significant.length);
  return `${sign}${significant}e${power}`;
}

/**
 * A number with more than 15 significant digits, the most that a double
 * always keeps, has 16 characters from `[0-9.]` in a row.
 */
const LONG_DIGIT_RUN = /[0-9.]{16,}/;

/** A digit followed by the letter of an exponent, as in `1e400`, but also in `8e9f`. */
const DIGIT_BEFORE_EXPONENT = /[0-9][eE]/g;

/** Characters that may come right before a JSON number (RFC 8259 section 2), besides the start of the text. */
const BEFORE_NUMBER = new Set([0x3a, 0x2c, 0x5b, 0x20, 0x09, 0x0a, 0x0d]);

/**
 * Tells whether `text` may have a number that a double changes: one with
 * more than 15 significant digits, or one with an exponent. Hexadecimal
 * identifiers such as UUIDs often have a digit before an `e`, so a match
 * counts only where the digits before it could start a number: at the
 * start of the text or after a colon, comma, bracket or whitespace.
 * Strings are not skipped, so `"x 1e5"` still counts, and the scan after
 * this check decides.
 */
function mayHaveInexactNumber(text: string): boolean {
  if (LONG_DIGIT_RUN.test(text)) {
    return true;
  }

  DIGIT_BEFORE_EXPONENT.lastIndex = 0;
  for (let match = DIGIT_BEFORE_EXPONENT.exec(text); match !== null; match = DIGIT_BEFORE_EXPONENT.exec(text)) {
    let start = match.index;
    while (start > 0 && isNumberStartPart(text.charCodeAt(start - 1))) {
      start -= 1;
    }
    if (start === 0 || BEFORE_NUMBER.has(text.charCodeAt(start - 1))) {
      return true;
    }
  }
  return false;
}

/** Tells whether `code` may appear in a JSON number before its exponent: a digit, the point or the minus sign. */
function isNumberStartPart(code: number): boolean {
  return (code >= DIGIT_ZERO && code <= DIGIT_NINE) || code === POINT || code === MINUS;
}

/**
 * Tells whether `text`, which must be valid JSON, has a number whose value
 * changes when JSON.parse reads it as a double and JSON.stringify writes
 * it back. Such numbers are integers beyond 2^53 (12345678901234567891),
 * fractions with more digits than a double keeps, and values out of its
 * range, such as 1e400, which JSON.stringify writes as null. A client that reads
 * integers exactly, as Python's json module does, would see the change.
 */
export function hasInexactNumber(text: string): boolean {
  if (!mayHaveInexactNumber(text)) {
    return false;
  }

  return numberSpans(text).some(([start, end]) => {
    const source = text.slice(start, end);
    return decimalValue(source) !== decimalValue(JSON.stringify(Number(source)));
  });
}
