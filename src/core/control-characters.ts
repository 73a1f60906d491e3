/**
 * Characters that change how text is shown instead of being shown. They are
 * the control characters (Unicode category Cc, such as NUL, newline and the
 * ESC that starts an ANSI escape sequence) and the format characters (Cf,
 * such as bidirectional overrides and zero-width characters). The line and
 * paragraph separators (Zl, Zp) and unpaired surrogates (Cs) count too.
 * User-controlled text that contains them can forge or hide lines in a
 * terminal or a log.
 */
const CONTROL_CHARACTER = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;
const CONTROL_CHARACTERS = new RegExp(CONTROL_CHARACTER.source, 'gu');

/**
 * Returns the number of characters in `text` as code points. String.length
 * counts UTF-16 units, so an emoji outside the BMP would count as two, while
 * ajv's `maxLength` and people count it as one.
 */
export function codePointCount(text: string): number {
  return [...text].length;
}

/** Formats a code point in the usual notation, such as U+001B. */
export function codePointLabel(character: string): string {
  return `U+${(character.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Returns the first control or format character of `text`, or undefined when it has none. */
export function findControlCharacter(text: string): string | undefined {
  return CONTROL_CHARACTER.exec(text)?.[0];
}

/**
 * Replaces each control or format character with `\uXXXX` escapes of its
 * UTF-16 code units, such as `\u001b`, or `\udb40\udc01` for U+E0001, so
 * that text can be written to a terminal as one visible line. The escapes
 * are valid in JSON strings and JavaScript, so escaping a JSON text keeps
 * the values it parses to.
 */
export function escapeControlCharacters(text: string): string {
  return text.replace(CONTROL_CHARACTERS, (character) =>
    Array.from({ length: character.length }, (_, index) => `\\u${character.charCodeAt(index).toString(16).padStart(4, '0')}`).join(''),
  );
}
