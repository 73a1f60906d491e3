/**
 * Serialization styles of path, query and header parameters (OpenAPI 3
 * `style` and `explode`). The gateway reads the default style of each
 * location: `simple` for path and header parameters and `form` for query
 * parameters. An array is then a comma-separated list, except in a query
 * with `explode: true` (the default), where each item repeats the name.
 */

import { escapePointerToken, type SchemaViolation } from '../validation-errors.js';
import { isJsonObject } from './json-object.js';

type JsonObject = Record<string, unknown>;

export type ParameterLocation = 'path' | 'query' | 'header';

const DEFAULT_STYLES: Readonly<Record<ParameterLocation, string>> = { path: 'simple', query: 'form', header: 'simple' };

/** The way the gateway reads a parameter's text, or the reason it cannot. */
export type ParameterReading = { ok: true; commaSeparated: boolean } | { ok: false; reason: string };

function declaredTypes(schema: JsonObject): string[] {
  const type = schema['type'];
  if (typeof type === 'string') {
    return [type];
  }
  return Array.isArray(type) ? type.filter((entry): entry is string => typeof entry === 'string') : [];
}

/**
 * Returns how to read a parameter declared at `location` with `schema`:
 * whether its value is a comma-separated list. A style other than the
 * location's default, an object-typed parameter and one declared with
 * `content` cannot be read.
 */
export function parameterReading(location: ParameterLocation, parameter: JsonObject, schema: JsonObject): ParameterReading {
  // OpenAPI 3 lets `content` (a media type and its schema, such as JSON)
  // stand in for `schema`. The gateway does not parse such values, so it
  // would forward them without checking them against the declared schema.
  if (parameter['content'] !== undefined) {
    return { ok: false, reason: 'declares its value with content, which the gateway cannot check; declare it with a schema instead' };
  }

  const style = typeof parameter['style'] === 'string' ? parameter['style'] : DEFAULT_STYLES[location];
  if (style !== DEFAULT_STYLES[location]) {
    return { ok: false, reason: `uses style '${style}'; the gateway reads only style '${DEFAULT_STYLES[location]}' in the ${location}` };
  }

  const types = declaredTypes(schema);
  if (types.includes('object') || (types.length === 0 && isJsonObject(schema['properties']))) {
    return { ok: false, reason: 'is an object; the gateway reads only scalar and array parameters' };
  }

  const explode = typeof parameter['explode'] === 'boolean' ? parameter['explode'] : style === 'form';
  const isArray = types.includes('array');
  return { ok: true, commaSeparated: isArray && !(location === 'query' && explode) };
}

/**
 * The separator of a header list, which may have whitespace around each
 * comma (RFC 9110 section 5.6.1). Node.js joins a repeated header with ", ".
 */
const HEADER_LIST_SEPARATOR = /[ \t]*,[ \t]*/;

/**
 * Returns a violation for each of `names` that `values` has more than once,
 * as a query array with `explode: false` can be. Servers differ in which
 * occurrence they read, and the schema would count each occurrence as one
 * item, so `?tags=a,b,c&tags=d` would pass `maxItems: 2`.
 */
export function repeatedListViolations(values: Record<string, unknown>, names: ReadonlySet<string>): SchemaViolation[] {
  const violations: SchemaViolation[] = [];
  for (const name of names) {
    if (Array.isArray(values[name])) {
      violations.push({ keyword: 'repeatedList', instancePath: `/${escapePointerToken(name)}`, params: {}, message: 'must appear once, with its items separated by commas' });
    }
  }
  return violations;
}

/** Splits the comma-separated values of `names` in `values` into arrays, in place. */
export function splitCommaSeparated(values: Record<string, unknown>, names: ReadonlySet<string>, location: ParameterLocation): void {
  if (names.size === 0) {
    return;
  }

  const separator = location === 'header' ? HEADER_LIST_SEPARATOR : ',';
  for (const name of names) {
    const value = values[name];
    if (typeof value === 'string') {
      values[name] = value.split(separator);
    }
  }
}
