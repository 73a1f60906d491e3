/**
 * The `readOnly` and `writeOnly` annotations of a property schema.
 *
 * An annotation counts when the schema carries it itself, or when every
 * value the schema accepts is marked: through any `allOf` branch (all of
 * them apply), or through every branch of `anyOf` or `oneOf`. OpenAPI 3.0
 * ignores siblings of a `$ref`, so documents commonly wrap a reference to a
 * read-only or write-only schema in `allOf` to describe it.
 */

import { isJsonObject } from './json-object.js';

export type AccessAnnotation = 'readOnly' | 'writeOnly';

/** Tells whether `schema` marks its values with `annotation`, itself or through composition. */
export function hasAccessAnnotation(schema: unknown, annotation: AccessAnnotation, visiting = new Set<object>()): boolean {
  if (!isJsonObject(schema) || visiting.has(schema)) {
    return false;
  }
  if (schema[annotation] === true) {
    return true;
  }

  visiting.add(schema);
  try {
    const allOf = Array.isArray(schema['allOf']) ? schema['allOf'] : [];
    if (allOf.some((branch) => hasAccessAnnotation(branch, annotation, visiting))) {
      return true;
    }

    for (const key of ['anyOf', 'oneOf']) {
      const branches = schema[key];
      if (Array.isArray(branches) && branches.length > 0 && branches.every((branch) => hasAccessAnnotation(branch, annotation, visiting))) {
        return true;
      }
    }
    return false;
  } finally {
    visiting.delete(schema);
  }
}
