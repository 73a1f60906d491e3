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
 *   its schema is marked through `allOf`, `anyOf` or `oneOf`.
 *
 * NOTE: adding `additionalProperties: false` inside `allOf` branches makes
 * each branch reject the others' properties; documents that compose object
 * schemas with `allOf` must declare `additionalProperties` themselves.
 * NOTE: `dependentSchemas` is copied unchanged, so an object declared only
 * inside it stays open and its `readOnly` properties are accepted.
 */

import { hasAccessAnnotation } from './annotations.js';
import { isJsonObject } from './json-object.js';

type Schema = Record<string, unknown>;

/**
 * Keywords whose schemas describe the value itself or a value inside it.
 * `additionalItems` is the draft 4 to 7 form that OpenAPI 3.0 documents
 * may use, and `unevaluatedProperties` and `unevaluatedItems` are OpenAPI
 * 3.1 (JSON Schema 2020-12).
 */
const NESTED_SCHEMA_KEYS = [
  'items',
  'additionalItems',
  'unevaluatedItems',
  'additionalProperties',
  'unevaluatedProperties',
  'not',
  'contains',
  'if',
  'then',
  'else',
  'propertyNames',
];
const SCHEMA_LIST_KEYS = ['allOf', 'anyOf', 'oneOf', 'prefixItems'];

function isObjectSchema(schema: Schema): boolean {
  const type = schema['type'];
  return type === 'object' || (Array.isArray(type) && type.includes('object')) || isJsonObject(schema['properties']);
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

  if (isObjectSchema(schema) && schema['additionalProperties'] === undefined && schema['unevaluatedProperties'] === undefined) {
    result['additionalProperties'] = false;
  }

  for (const key of NESTED_SCHEMA_KEYS) {
    if (isJsonObject(result[key])) {
      result[key] = toRequestSchema(result[key], seen);
    }
  }
  for (const key of SCHEMA_LIST_KEYS) {
    if (Array.isArray(result[key])) {
      result[key] = (result[key] as unknown[]).map((entry) => toRequestSchema(entry, seen));
    }
  }
  if (isJsonObject(schema['patternProperties'])) {
    const patterns = Object.entries(schema['patternProperties']).map(([pattern, entry]) => [pattern, toRequestSchema(entry, seen)]);
    result['patternProperties'] = Object.fromEntries(patterns);
  }

  return result;
}
