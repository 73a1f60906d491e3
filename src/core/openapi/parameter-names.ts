/**
 * Spellings under which web frameworks read a parameter or form field as
 * another name. ASP.NET Core compares names without regard to case. Rails,
 * PHP and the qs parser of Express nest `owner[]` and `owner[x]` under
 * `owner`, and qs with `allowDots` nests `owner.x` too. PHP also rewrites
 * `tenant.id` to `tenant_id` (see phpSpelling).
 */

/**
 * Letters whose uppercase is an ASCII letter but whose lowercase is not.
 * ASP.NET Core keys its query and form collections with .NET's
 * OrdinalIgnoreCase, which compares the uppercase of each character, so it
 * reads `tenantıd` as `tenantId`. Go's encoding/json matches JSON member
 * names with Unicode case folding, in which the long s is an s too.
 * JavaScript lowercases the Kelvin sign to `k` by itself.
 */
const UPPERCASE_FOLDS: Readonly<Record<string, string>> = { '\u0131': 'i', '\u017f': 's' };

/** Returns `name` lower-cased, with the letters above read as their ASCII letter. */
export function foldCase(name: string): string {
  return name.toLowerCase().replace(/[\u0131\u017f]/g, (letter) => UPPERCASE_FOLDS[letter] ?? letter);
}

/**
 * Tells whether `name` is the bound name `bound`, as foldCase spells it, in
 * any of these spellings, the exact one included.
 */
export function isVariantName(name: string, bound: string): boolean {
  return namesVariant(foldCase(name), bound) || namesVariant(foldCase(phpSpelling(name)), bound);
}

/**
 * Returns the first of `names`, each as foldCase spells it, that `name`
 * spells in any of these ways, the exact one included, or undefined.
 * The spellings of `name` are built once for the whole list.
 */
export function variantOf(name: string, names: readonly string[]): string | undefined {
  const folded = foldCase(name);
  const php = foldCase(phpSpelling(name));
  return names.find((bound) => namesVariant(folded, bound) || namesVariant(php, bound));
}

/** Tells whether `name` is `bound`, or `bound` followed by `[` or `.`, both as foldCase spells them. */
function namesVariant(name: string, bound: string): boolean {
  if (!name.startsWith(bound)) {
    return false;
  }
  const next = name.charAt(bound.length);
  return next === '' || next === '[' || next === '.';
}

/**
 * Returns a parameter name as PHP stores it in `$_GET` or `$_POST`: without
 * leading spaces, and with each space, `.` and unmatched `[` in the part
 * before the first `[...]` replaced by `_`. So PHP reads `tenant.id`,
 * `tenant id` and `tenant[id` as `tenant_id`.
 */
export function phpSpelling(name: string): string {
  const text = name.replace(/^ +/, '');
  const open = text.indexOf('[');
  const baseEnd = open !== -1 && text.includes(']', open) ? open : text.length;
  return text.slice(0, baseEnd).replace(/[ .[]/g, '_') + text.slice(baseEnd);
}
