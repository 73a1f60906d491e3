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
export function hasAccessAnnotation(schema: unknown, annotation: AccessAnnotation, visiting?: Set<object>): boolean {
  if (!isJsonObject(schema) || visiting?.has(schema) === true) {
    return false;
  }
  if (schema[annotation] === true) {
    return true;
  }
  // Most property schemas compose nothing. A response schema whose branches
  // depend on the value reads its properties again for every response, so
  // this common case allocates no set.
  if (!Array.isArray(schema['allOf']) && !Array.isArray(schema['anyOf']) && !Array.isArray(schema['oneOf'])) {
    return false;
  }

  const seen = visiting ?? new Set<object>();
  seen.add(schema);
  try {
    const allOf = Array.isArray(schema['allOf']) ? schema['allOf'] : [];
    if (allOf.some((branch) => hasAccessAnnotation(branch, annotation, seen))) {
      return true;
    }

    for (const key of ['anyOf', 'oneOf']) {
      const branches = schema[key];
      if (Array.isArray(branches) && branches.length > 0 && branches.every((branch) => hasAccessAnnotation(branch, annotation, seen))) {
        return true;
      }
    }
    return false;
  } finally {
    seen.delete(schema);
  }
}
