/**
 * The scalar types whose strict text form a parameter or form field must
 * have (see parameter-text.ts), read from its schema. A type counts wherever
 * ajv would coerce the text to it: in the schema itself, in every `allOf`
 * branch, and in the branches of `anyOf` and `oneOf`. OpenAPI 3.0 ignores
 * the siblings of a `$ref`, so documents often wrap a referenced type in
 * `allOf`, and ajv coerces `0x10` or ` 5` to a number there too.
 */

import { isJsonObject } from './json-object.js';
import { compilePattern } from './response-filter.js';

type JsonObject = Record<string, unknown>;

/** A scalar type whose text form is checked. */
export type TextType = 'integer' | 'number' | 'boolean';

/** The text types in the order that messages name them. */
const TEXT_TYPES: readonly TextType[] = ['integer', 'number', 'boolean'];

/** The keywords whose schema governs the members that neither `properties` nor `patternProperties` names. */
const EXTRA_MEMBER_KEYS = ['additionalProperties', 'unevaluatedProperties'];

/** Text types a value may have, or undefined when any text is acceptable. An empty list accepts no text. */
type Accepted = readonly TextType[] | undefined;

function declaredTypes(schema: JsonObject): string[] {
  const type = schema['type'];
  if (typeof type === 'string') {
    return [type];
  }
  return Array.isArray(type) ? type.filter((entry): entry is string => typeof entry === 'string') : [];
}

/** Tells whether `accepted` admits the text of `type`, counting every integer as a number. */
function admits(accepted: readonly TextType[], type: TextType): boolean {
  return accepted.includes(type) || (type === 'integer' && accepted.includes('number'));
}

/** Returns the text types that both constraints accept, as for two schemas that both apply. */
function intersection(first: Accepted, second: Accepted): Accepted {
  if (first === undefined || second === undefined) {
    return first ?? second;
  }
  return TEXT_TYPES.filter((type) => (first.includes(type) && admits(second, type)) || (second.includes(type) && admits(first, type)));
}

/** Returns the text types that either of the branch constraints accepts, as for `anyOf` and `oneOf`. */
function union(branches: readonly Accepted[]): Accepted {
  if (branches.some((accepted) => accepted === undefined)) {
    return undefined;
  }
  return TEXT_TYPES.filter((type) => branches.some((accepted) => accepted?.includes(type) === true));
}

/** Returns the text types of the schema's own `type`, or of its `items` for an array. */
function ownTextTypes(schema: JsonObject, visiting: Set<object>): Accepted {
  const types = declaredTypes(schema);
  if (types.includes('array') && isJsonObject(schema['items'])) {
    return acceptedTextTypes(schema['items'], visiting);
  }
  if (types.length === 0 || types.includes('string')) {
    return undefined;
  }

  const found = TEXT_TYPES.filter((type) => types.includes(type));
  return found.length === 0 ? undefined : found;
}

/**
 * Narrows `accepted` by the constraint that `of` gives each branch of the
 * schema's `allOf`, and `ofAlternative` each branch of its `anyOf` and `oneOf`.
 */
function narrowByBranches(accepted: Accepted, schema: JsonObject, of: (branch: unknown) => Accepted, ofAlternative = of): Accepted {
  let result = accepted;
  if (Array.isArray(schema['allOf'])) {
    for (const branch of schema['allOf']) {
      result = intersection(result, of(branch));
    }
  }
  for (const key of ['anyOf', 'oneOf']) {
    const branches = schema[key];
    if (Array.isArray(branches) && branches.length > 0) {
      result = intersection(result, union(branches.map(ofAlternative)));
    }
  }
  return result;
}

/**
 * Tells whether the request form of an object schema rejects every property
 * that it does not name, as toRequestSchema closes an object schema that
 * does not mention extra properties.
 */
function isClosedObject(schema: unknown): boolean {
  if (!isJsonObject(schema)) {
    return false;
  }
  const type = schema['type'];
  const isObject = type === 'object' || (Array.isArray(type) && type.includes('object')) || isJsonObject(schema['properties']);
  const extra = EXTRA_MEMBER_KEYS.some((key) => schema[key] !== undefined && schema[key] !== false);
  return isObject && !extra && !isJsonObject(schema['patternProperties']);
}

function acceptedTextTypes(schema: unknown, visiting: Set<object>): Accepted {
  if (!isJsonObject(schema) || visiting.has(schema)) {
    return undefined;
  }

  visiting.add(schema);
  try {
    return narrowByBranches(ownTextTypes(schema, visiting), schema, (branch) => acceptedTextTypes(branch, visiting));
  } finally {
    visiting.delete(schema);
  }
}

/** Tells whether a `patternProperties` name matches `name`. ajv has compiled every pattern of the document at start. */
function matchesPattern(pattern: string, name: string): boolean {
  try {
    return compilePattern(pattern).test(name);
  } catch {
    return false;
  }
}

/**
 * Returns the text types that the schemas of one object schema give its
 * member `name`, before its branches: the one in `properties`, and every
 * matching one in `patternProperties`. A member that neither names gets
 * the schema of `additionalProperties` or `unevaluatedProperties`. The
 * latter is left out for a name that a branch declares, which evaluates it.
 */
function ownMemberTextTypes(schema: JsonObject, name: string): Accepted {
  const properties = isJsonObject(schema['properties']) ? schema['properties'] : {};
  const patterns = isJsonObject(schema['patternProperties']) ? Object.entries(schema['patternProperties']) : [];
  const matching = patterns.filter(([pattern]) => matchesPattern(pattern, name));
  let accepted = Object.hasOwn(properties, name) ? acceptedTextTypes(properties[name], new Set()) : undefined;
  for (const [, member] of matching) {
    accepted = intersection(accepted, acceptedTextTypes(member, new Set()));
  }
  if (Object.hasOwn(properties, name) || matching.length > 0) {
    return accepted;
  }

  if (isJsonObject(schema['additionalProperties'])) {
    return acceptedTextTypes(schema['additionalProperties'], new Set());
  }
  if (isJsonObject(schema['unevaluatedProperties']) && !declaredMemberNames(schema).has(name)) {
    return acceptedTextTypes(schema['unevaluatedProperties'], new Set());
  }
  return undefined;
}

/**
 * Tells whether `schema` or a schema of its `allOf`, `anyOf` and `oneOf`
 * branches, at any depth, has a schema for members that `properties` does
 * not name, so that a member of any name may have text types.
 */
export function hasPatternOrExtraMembers(schema: unknown, visited = new Set<object>()): boolean {
  if (!isJsonObject(schema) || visited.has(schema)) {
    return false;
  }
  visited.add(schema);

  if (isJsonObject(schema['patternProperties']) || EXTRA_MEMBER_KEYS.some((key) => isJsonObject(schema[key]))) {
    return true;
  }
  return ['allOf', 'anyOf', 'oneOf'].some((key) => {
    const branches = schema[key];
    return Array.isArray(branches) && branches.some((branch) => hasPatternOrExtraMembers(branch, visited));
  });
}

function acceptedMemberTextTypes(schema: unknown, name: string, visiting: Set<object>): Accepted {
  if (!isJsonObject(schema) || visiting.has(schema)) {
    return undefined;
  }

  visiting.add(schema);
  try {
    const own = ownMemberTextTypes(schema, name);
    // An alternative that is a closed object without the member rejects
    // every body that has it, so it admits no text for it.
    const alternative = (branch: unknown): Accepted =>
      isClosedObject(branch) && !declaredMemberNames(branch).has(name) ? [] : acceptedMemberTextTypes(branch, name, visiting);
    return narrowByBranches(own, schema, (branch) => acceptedMemberTextTypes(branch, name, visiting), alternative);
  } finally {
    visiting.delete(schema);
  }
}

/**
 * Returns the scalar types whose text form a value of `schema` must have,
 * or undefined when any text is acceptable (strings, or no declared type).
 */
export function textTypesOf(schema: unknown): readonly TextType[] | undefined {
  return acceptedTextTypes(schema, new Set());
}

/**
 * Returns the scalar types whose text form the property `name` of an object
 * schema must have, or undefined when any text is acceptable. The types
 * come from the schemas that govern the property in the schema and in its
 * `allOf`, `anyOf` and `oneOf` branches (see ownMemberTextTypes).
 */
export function memberTextTypesOf(schema: unknown, name: string): readonly TextType[] | undefined {
  return acceptedMemberTextTypes(schema, name, new Set());
}

/** Returns the names that `properties` declares in `schema` and in its `allOf`, `anyOf` and `oneOf` branches, at any depth. */
export function declaredMemberNames(schema: unknown, names = new Set<string>(), visited = new Set<object>()): Set<string> {
  if (!isJsonObject(schema) || visited.has(schema)) {
    return names;
  }
  visited.add(schema);

  if (isJsonObject(schema['properties'])) {
    for (const name of Object.keys(schema['properties'])) {
      names.add(name);
    }
  }
  for (const key of ['allOf', 'anyOf', 'oneOf']) {
    const branches = schema[key];
    if (Array.isArray(branches)) {
      for (const branch of branches) {
        declaredMemberNames(branch, names, visited);
      }
    }
  }
  return names;
}
