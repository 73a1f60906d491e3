/**
 * Header names and `prefix*` patterns, as an upstream's `dropRequestHeaders`
 * lists them, compared without case and with `_` read as `-`.
 */

/** Lower-cases a header name and spells `_` as `-`, because servers that map `_` to `-` (CGI-style) read x_portcullis_roles as an identity header. */
export function normalizedHeaderName(name: string): string {
  return name.toLowerCase().replaceAll('_', '-');
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
