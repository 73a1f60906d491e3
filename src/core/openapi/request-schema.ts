/**
 * Rewrites a dereferenced OpenAPI schema into the schema that request
 * bodies must satisfy at the gateway.
 *
 * - An object schema that does not mention extra properties gets
 *   `additionalProperties: false`, so a caller cannot slip in a property the
 *   upstream never declared (mass assignment). A schema that wants extra
 *   properties says so explicitly.
 * - A `readOnly` property may not appear in a request at all: it becomes the
 *   `false` schema, and it is dropped from `required`, since OpenAPI only
 *   requires it in responses. A property counts as `readOnly` also when
 *   its schema is marked through `allOf`, `anyOf` or `oneOf`. A read-only
 *   schema under `patternProperties`, `additionalProperties` or
 *   `unevaluatedProperties` becomes `false` as well, and so does a
 *   read-only branch of `anyOf` or `oneOf`.
 * - An object that admits unnamed properties rejects the name of a
 *   property in another case (`Role` for `role`), because Go's
 *   encoding/json and ASP.NET Core's JSON options match member names
 *   without regard to case. Such a spelling would set a read-only
 *   property, or one whose value the gateway never checked.
 *
 * - An `integer` schema gets `minimum` and `maximum` at the safe integer
 *   range unless it sets tighter bounds. JSON.parse rounds a larger
 *   integer (9007199254740993 becomes 9007199254740992), so the gateway
 *   would check another value than an upstream that reads it exactly.
 *
 * - A schema under `dependentSchemas` (or `dependencies`, its draft 7
 *   form) gets the same rewrite, but stays as open as the document wrote
 *   it, because it applies to the object that contains it. Closing it
 *   would reject every property of that object that it does not name.
 *
 * - The object schemas of an `allOf`, and the schema that contains it,
 *   admit the properties that any of them names, because all of them
 *   apply to one object. Closed on its own names, each would reject the
 *   properties of the others.
 *
 * NOTE: names declared only under an `anyOf` or `oneOf` inside an `allOf`
 * are not shared that way, so the other branches still reject them.
 */

import { hasAccessAnnotation } from './annotations.js';
import { isJsonObject } from './json-object.js';

type Schema = Record<string, unknown>;

/**
 * Keywords whose schemas describe the value itself or a value inside it.
 * `additionalItems` is the draft 4 to 7 form that OpenAPI 3.0 documents
 * may use, and `unevaluatedProperties` and `unevaluatedItems` are OpenAPI
 * 3.1 (JSON Schema 2020-12).
 *
 * `not` and `if` are missing on purpose and keep the document's schema.
 * They test the value instead of describing it, so closing an object in
 * them would change which bodies they match. A closed `if` would skip its
 * `then` for a body with one more property, and a closed `not` would stop
 * rejecting such a body.
 */
const NESTED_SCHEMA_KEYS = [
  'items',
  'additionalItems',
  'unevaluatedItems',
  'additionalProperties',
  'unevaluatedProperties',
  'contains',
  'then',
  'else',
  'propertyNames',
];
const SCHEMA_LIST_KEYS = ['allOf', 'anyOf', 'oneOf', 'prefixItems'];

/**
 * Keywords that map a property name to a schema that applies to the whole
 * object when the property is present. `dependencies` is the draft 4 to 7
 * form, whose values may also be lists of property names.
 */
const DEPENDENT_SCHEMA_KEYS = ['dependentSchemas', 'dependencies'];

/** Keywords whose schema describes the values of properties that `properties` does not name. */
const MEMBER_SCHEMA_KEYS = ['additionalProperties', 'unevaluatedProperties'];

/**
 * Non-ASCII characters that case-insensitive decoders can read as an ASCII
 * letter. Go's encoding/json folds the Kelvin sign into `k` and the long s
 * into `s` (unicode.SimpleFold). The uppercase of the long s is `S` and
 * that of the dotless i is `I`, which decoders that compare uppercased
 * names match.
 */
const EXTRA_FOLDS: Readonly<Record<string, string>> = { k: '\u212a', s: '\u017f', i: '\u0131' };

function escapeInClass(character: string): string {
  return /[\\\]^-]/.test(character) ? `\\${character}` : character;
}

function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
}

/** Returns a pattern that matches each of `names` in any other case, and in the folds above, but not as written. */
function otherCasesPattern(names: ReadonlySet<string>): string {
  const exact = [...names].map(escapeRegExp).join('|');
  const alternatives = [...names].map((name) =>
    [...name]
      .map((character) => {
        const lower = character.toLowerCase();
        const variants = new Set([character, lower, character.toUpperCase(), EXTRA_FOLDS[lower] ?? '']);
        variants.delete('');
        return `[${[...variants].map(escapeInClass).join('')}]`;
      })
      .join(''),
  );
  return `^(?!(?:${exact})$)(?:${alternatives.join('|')})$`;
}

/** Tells whether a request schema lets an object have properties that `properties` does not name. */
function admitsUnnamedProperties(result: Schema): boolean {
  const extra = [result['additionalProperties'], result['unevaluatedProperties']].some((value) => value !== undefined && value !== false);
  return extra || (isJsonObject(result['patternProperties']) && Object.keys(result['patternProperties']).length > 0);
}

/**
 * Tells whether the branches of `key` are alternatives (`anyOf`, `oneOf`).
 * A read-only alternative becomes `false`, so that a nullable read-only
 * property, written `anyOf: [{ $ref: Role }, { type: 'null' }]`, admits
 * only null in requests.
 */
function isAlternative(key: string): boolean {
  return key === 'anyOf' || key === 'oneOf';
}

/** Returns whether `schema` admits integers but no other numbers. */
function isIntegerSchema(schema: Schema): boolean {
  const type = schema['type'];
  const types = Array.isArray(type) ? type : [type];
  return types.includes('integer') && !types.includes('number');
}

/** Narrows the bounds of an integer schema to the safe integer range, in place. */
function boundToSafeIntegers(result: Schema): void {
  const { minimum, maximum } = result;
  if (typeof minimum !== 'number' || minimum < Number.MIN_SAFE_INTEGER) {
    result['minimum'] = Number.MIN_SAFE_INTEGER;
  }
  if (typeof maximum !== 'number' || maximum > Number.MAX_SAFE_INTEGER) {
    result['maximum'] = Number.MAX_SAFE_INTEGER;
  }
}

function isObjectSchema(schema: Schema): boolean {
  const type = schema['type'];
  return type === 'object' || (Array.isArray(type) && type.includes('object')) || isJsonObject(schema['properties']);
}

/** Request forms that toRequestSchema closed with `additionalProperties: false`, as opposed to documents that wrote it. */
const closedObjects = new WeakSet<Schema>();

/** Returns the names that `schema` and the schemas of its `allOf`, at any depth, declare in `properties`. */
function composedNames(schema: Schema, names = new Set<string>(), visited = new Set<Schema>()): Set<string> {
  if (visited.has(schema)) {
    return names;
  }
  visited.add(schema);

  if (isJsonObject(schema['properties'])) {
    for (const name of Object.keys(schema['properties'])) {
      names.add(name);
    }
  }
  if (Array.isArray(schema['allOf'])) {
    for (const branch of schema['allOf']) {
      if (isJsonObject(branch)) {
        composedNames(branch, names, visited);
      }
    }
  }
  return names;
}

/**
 * Lets `result`, the request form of a schema with `allOf`, and the object
 * schemas of its `allOf` at any depth admit each of `names`, where
 * toRequestSchema closed them. A name gets the empty schema, so the schema
 * that declares it still checks its value, and a read-only one stays
 * `false` there. `result` changes in place, and each branch is copied,
 * because `seen` shares a branch's request form with other places.
 */
function admitComposedNames(result: Schema, names: ReadonlySet<string>): void {
  if (closedObjects.has(result)) {
    result['properties'] = withNames(result['properties'], names);
  }
  if (Array.isArray(result['allOf'])) {
    result['allOf'] = result['allOf'].map((branch) => (isJsonObject(branch) ? admittingNames(branch, names) : branch));
  }
}

/** Returns a copy of a branch's request form that admits `names` (see admitComposedNames). */
function admittingNames(branch: Schema, names: ReadonlySet<string>): Schema {
  const copy = { ...branch };
  if (closedObjects.has(branch)) {
    closedObjects.add(copy);
  }
  admitComposedNames(copy, names);
  return copy;
}

/** Returns `properties` with the empty schema for each of `names` that it does not declare. */
function withNames(properties: unknown, names: ReadonlySet<string>): Schema {
  const result: Schema = isJsonObject(properties) ? { ...properties } : {};
  for (const name of names) {
    if (!Object.hasOwn(result, name)) {
      result[name] = {};
    }
  }
  return result;
}

/** Returns the request form of `schema`, leaving the input untouched; `seen` guards against cycles. */
export function toRequestSchema(schema: unknown, seen = new Map<object, Schema>()): unknown {
  if (!isJsonObject(schema)) {
    return schema;
  }

  const done = seen.get(schema);
  if (done !== undefined) {
    return done;
  }

  const result: Schema = { ...schema };
  seen.set(schema, result);

  if (isJsonObject(schema['properties'])) {
    const properties: Schema = {};
    const readOnly = new Set<string>();
    for (const [name, property] of Object.entries(schema['properties'])) {
      if (hasAccessAnnotation(property, 'readOnly')) {
        readOnly.add(name);
        properties[name] = false;
      } else {
        properties[name] = toRequestSchema(property, seen);
      }
    }
    result['properties'] = properties;

    if (Array.isArray(schema['required'])) {
      result['required'] = schema['required'].filter((name) => !readOnly.has(String(name)));
    }
  }

  if (isIntegerSchema(schema)) {
    boundToSafeIntegers(result);
  }

  if (isObjectSchema(schema) && schema['additionalProperties'] === undefined && schema['unevaluatedProperties'] === undefined) {
    result['additionalProperties'] = false;
    closedObjects.add(result);
  }

  // A read-only schema for the properties that `properties` does not name
  // forbids those properties in requests, as for a read-only named one.
  for (const key of MEMBER_SCHEMA_KEYS) {
    if (hasAccessAnnotation(result[key], 'readOnly')) {
      result[key] = false;
    }
  }

  for (const key of NESTED_SCHEMA_KEYS) {
    if (isJsonObject(result[key])) {
      result[key] = toRequestSchema(result[key], seen);
    }
  }
  for (const key of SCHEMA_LIST_KEYS) {
    if (Array.isArray(result[key])) {
      result[key] = (result[key] as unknown[]).map((entry) => (isAlternative(key) && hasAccessAnnotation(entry, 'readOnly') ? false : toRequestSchema(entry, seen)));
    }
  }
  if (isJsonObject(schema['patternProperties'])) {
    const patterns = Object.entries(schema['patternProperties']).map(([pattern, entry]) => [
      pattern,
      hasAccessAnnotation(entry, 'readOnly') ? false : toRequestSchema(entry, seen),
    ]);
    result['patternProperties'] = Object.fromEntries(patterns);
  }

  if (Array.isArray(schema['allOf'])) {
    admitComposedNames(result, composedNames(schema));
  }

  for (const key of DEPENDENT_SCHEMA_KEYS) {
    if (isJsonObject(schema[key])) {
      const entries = Object.entries(schema[key]).map(([name, entry]) => [name, isJsonObject(entry) ? toDependentSchema(entry, seen) : entry]);
      result[key] = Object.fromEntries(entries);
    }
  }

  const named = isJsonObject(schema['properties']) ? new Set(Object.keys(schema['properties'])) : new Set<string>();
  if (named.size > 0 && admitsUnnamedProperties(result)) {
    const patterns = isJsonObject(result['patternProperties']) ? result['patternProperties'] : {};
    result['patternProperties'] = { ...patterns, [otherCasesPattern(named)]: false };
  }

  return result;
}

/**
 * Returns the request form of a schema under `dependentSchemas`, without
 * the `additionalProperties: false` that toRequestSchema adds to an object
 * schema that does not mention extra properties. The result is a copy,
 * because `seen` shares the closed form with other places that use it.
 */
function toDependentSchema(schema: Schema, seen: Map<object, Schema>): Schema {
  const result = { ...(toRequestSchema(schema, seen) as Schema) };
  if (schema['additionalProperties'] === undefined) {
    delete result['additionalProperties'];
  }
  return result;
}
