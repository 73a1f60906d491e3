/**
 * Rejects schema forms that ajv accepts but the gateway cannot enforce.
 *
 * `items` written as a list is the tuple form of JSON Schema draft 4 to 7.
 * OpenAPI 3.0 requires a single schema there, and OpenAPI 3.1 writes tuples
 * with `prefixItems`. Ajv's draft 7 dialect, which 3.0 documents use,
 * still validates the list. But the request rewrite and the response filter
 * read `items` as one schema, so the elements of such a tuple would keep
 * undeclared and read-only properties in requests and undeclared ones in
 * responses.
 */

import { isJsonObject } from './json-object.js';

const NESTED_SCHEMA_KEYS = [
  'items',
  'additionalItems',
  'unevaluatedItems',
  'contains',
  'additionalProperties',
  'unevaluatedProperties',
  'propertyNames',
  'not',
  'if',
  'then',
  'else',
];
const SCHEMA_LIST_KEYS = ['allOf', 'anyOf', 'oneOf', 'prefixItems'];
const SCHEMA_MAP_KEYS = ['properties', 'patternProperties', 'dependentSchemas'];

function escapePointerToken(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}

/**
 * Throws an Error naming the JSON Pointer of the first `items` below
 * `schema` that is a list. A subschema that the dereferenced document
 * shares between several places is checked once.
 */
export function checkSchemaForms(schema: unknown, pointer = '', visited = new Set<object>()): void {
  if (!isJsonObject(schema) || visited.has(schema)) {
    return;
  }
  visited.add(schema);
  if (Array.isArray(schema['items'])) {
    throw new Error(`${pointer}/items is a list of schemas; write one schema for every element, or prefixItems (OpenAPI 3.1) for a tuple`);
  }

  for (const key of NESTED_SCHEMA_KEYS) {
    checkSchemaForms(schema[key], `${pointer}/${key}`, visited);
  }
  for (const key of SCHEMA_LIST_KEYS) {
    const list = schema[key];
    if (Array.isArray(list)) {
      list.forEach((entry, index) => checkSchemaForms(entry, `${pointer}/${key}/${index}`, visited));
    }
  }
  for (const key of SCHEMA_MAP_KEYS) {
    const map = schema[key];
    if (isJsonObject(map)) {
      for (const [name, entry] of Object.entries(map)) {
        checkSchemaForms(entry, `${pointer}/${key}/${escapePointerToken(name)}`, visited);
      }
    }
  }
}
