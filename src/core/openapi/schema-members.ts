/**
 * Whether a request body schema leaves room for a member at a JSON Pointer.
 *
 * An object-level binding on a body member that the schema refuses can
 * never pass: a body with the member fails validation with 400, and one
 * without it fails the binding with 404. The start stops on such a binding
 * instead, so a member counts as refused only where the schema refuses
 * it for certain. Keywords that test the value rather than
 * describe it (`not`, `if`, `dependentSchemas`) and `unevaluatedProperties`
 * beside other applicators count as leaving room.
 */

import { isJsonObject } from './json-object.js';

type Schema = Record<string, unknown>;

/** Keywords that apply other schemas to the same value, after which unevaluatedProperties depends on what they matched. */
const IN_PLACE_APPLICATORS = ['allOf', 'anyOf', 'oneOf', 'if', 'then', 'else', 'dependentSchemas', '$ref', '$dynamicRef'];

/** An array index as RFC 6901 writes it: 0, or digits without a leading zero. */
const ARRAY_INDEX = /^(0|[1-9][0-9]*)$/;

/**
 * Returns false when `schema` refuses every value that has a member at
 * `tokens` (the unescaped tokens of a JSON Pointer), true otherwise.
 */
export function schemaAdmitsMember(schema: unknown, tokens: readonly string[]): boolean {
  if (schema === false) {
    return false;
  }
  if (tokens.length === 0 || !isJsonObject(schema)) {
    return true;
  }

  if (Array.isArray(schema['allOf']) && !schema['allOf'].every((branch) => schemaAdmitsMember(branch, tokens))) {
    return false;
  }
  for (const keyword of ['anyOf', 'oneOf']) {
    const branches = schema[keyword];
    if (Array.isArray(branches) && !branches.some((branch) => schemaAdmitsMember(branch, tokens))) {
      return false;
    }
  }

  const [head, ...rest] = tokens as [string, ...string[]];
  const types = declaredTypes(schema);
  const mayBeObject = types === undefined || types.includes('object');
  const mayBeArray = ARRAY_INDEX.test(head) && (types === undefined || types.includes('array'));

  return (mayBeObject && admitsProperty(schema, head, rest)) || (mayBeArray && admitsElement(schema, Number(head), rest));
}

/** Returns the schema's `type` as a list, or undefined when it names none. */
function declaredTypes(schema: Schema): unknown[] | undefined {
  const type = schema['type'];
  return typeof type === 'string' ? [type] : Array.isArray(type) ? type : undefined;
}

/** Returns whether an object value may hold the member `name` with something at `rest` inside it. */
function admitsProperty(schema: Schema, name: string, rest: string[]): boolean {
  if (!declaresObject(schema)) {
    return true;
  }

  const properties = schema['properties'];
  if (isJsonObject(properties) && Object.hasOwn(properties, name)) {
    return schemaAdmitsMember(properties[name], rest);
  }

  const patterns = isJsonObject(schema['patternProperties']) ? Object.entries(schema['patternProperties']) : [];
  const matching = patterns.filter(([pattern]) => matchesPattern(pattern, name));
  if (matching.length > 0) {
    return matching.every(([, member]) => schemaAdmitsMember(member, rest));
  }

  if (schema['additionalProperties'] !== undefined) {
    return schemaAdmitsMember(schema['additionalProperties'], rest);
  }
  if (schema['unevaluatedProperties'] !== undefined && !IN_PLACE_APPLICATORS.some((keyword) => schema[keyword] !== undefined)) {
    return schemaAdmitsMember(schema['unevaluatedProperties'], rest);
  }
  return true;
}

/** Returns whether an array value may hold an element at `index` with something at `rest` inside it. */
function admitsElement(schema: Schema, index: number, rest: string[]): boolean {
  const tuple = Array.isArray(schema['prefixItems']) ? schema['prefixItems'] : Array.isArray(schema['items']) ? schema['items'] : undefined;
  if (tuple !== undefined && index < tuple.length) {
    return schemaAdmitsMember(tuple[index], rest);
  }

  // After a tuple, OpenAPI 3.0 (draft 4) continues with additionalItems and 3.1 with items.
  const following = tuple === undefined ? schema['items'] : Array.isArray(schema['items']) ? schema['additionalItems'] : schema['items'];
  return following === undefined || schemaAdmitsMember(following, rest);
}

/** Returns whether the schema describes the members of an object. */
function declaresObject(schema: Schema): boolean {
  return ['properties', 'patternProperties', 'additionalProperties', 'unevaluatedProperties'].some((keyword) => schema[keyword] !== undefined);
}

/** Tests a patternProperties key; a pattern that does not compile counts as matching, so it never refuses. */
function matchesPattern(pattern: string, name: string): boolean {
  try {
    return new RegExp(pattern, 'u').test(name);
  } catch {
    return true;
  }
}
