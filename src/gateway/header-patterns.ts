/**
 * Header names and `prefix*` patterns, as an upstream's `dropRequestHeaders`
 * lists them, compared without case and with any punctuation read as `-`.
 */

/** Characters of a header name other than letters, digits and `-`. */
const PUNCTUATION = /[^a-z0-9-]/g;

/**
 * Lower-cases a header name and spells every character other than a letter,
 * a digit or `-` as `-`. Servers that build CGI-style variable names map `_`
 * and `-` to the same `_`: x_portcullis_roles and x-portcullis-roles both
 * become HTTP_X_PORTCULLIS_ROLES. Some may map other punctuation such as `.`
 * the same way, so such a spelling names the header it is read as.
 */
export function normalizedHeaderName(name: string): string {
  return name.toLowerCase().replace(PUNCTUATION, '-');
}

const PUNCTUATION_CHARACTER = /[^a-z0-9-]/;

/** Tells whether a lower-case header name contains a character that normalizedHeaderName respells. */
export function hasPunctuation(name: string): boolean {
  return PUNCTUATION_CHARACTER.test(name);
}

/**
 * Builds a lookup that returns the first of `entries` that covers a header
 * name (an equal name, or a pattern ending in `*` whose prefix starts the
 * name), or undefined when none does.
 */
export function headerPatternMatcher(entries: readonly string[]): (name: string) => string | undefined {
  const names = new Map<string, string>();
  const prefixes: Array<[prefix: string, entry: string]> = [];
  for (const entry of entries) {
    if (entry.endsWith('*')) {
      prefixes.push([normalizedHeaderName(entry.slice(0, -1)), entry]);
    } else if (!names.has(normalizedHeaderName(entry))) {
      names.set(normalizedHeaderName(entry), entry);
    }
  }

  return (name) => {
    const normalized = normalizedHeaderName(name);
    return names.get(normalized) ?? prefixes.find(([prefix]) => normalized.startsWith(prefix))?.[1];
  };
}
