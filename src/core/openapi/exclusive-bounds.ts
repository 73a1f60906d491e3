/**
 * The boolean `exclusiveMinimum` and `exclusiveMaximum` of OpenAPI 3.0,
 * which takes them from JSON Schema draft 4: `true` makes `minimum` or
 * `maximum` exclusive. ajv validates 3.0 documents with draft 7, where
 * each is a number that is itself the exclusive bound, so it would reject
 * the boolean form as an invalid schema.
 */

/** Keys whose values are data rather than schemas or document objects, and are kept as written. */
const DATA_KEYS: ReadonlySet<string> = new Set(['example', 'examples', 'default', 'enum', 'const']);

/** Keys whose values map names of the document's choosing to schemas or document objects, so a name there may be a data key. */
const NAME_MAP_KEYS: ReadonlySet<string> = new Set([
  'properties',
  'patternProperties',
  'dependentSchemas',
  'dependencies',
  'definitions',
  '$defs',
  'schemas',
  'paths',
  'responses',
  'content',
  'headers',
  'parameters',
  'requestBodies',
  'callbacks',
]);

const BOUNDS = [
  ['exclusiveMinimum', 'minimum'],
  ['exclusiveMaximum', 'maximum'],
] as const;

/**
 * Returns `object` with its boolean exclusive bounds in the draft 7 form:
 * `minimum: 0, exclusiveMinimum: true` becomes `exclusiveMinimum: 0`, and
 * `exclusiveMinimum: false` is dropped. Returns `object` itself when it has
 * no boolean bound.
 */
function withNumericBounds(object: Record<string, unknown>): Record<string, unknown> {
  if (!BOUNDS.some(([exclusive]) => typeof object[exclusive] === 'boolean')) {
    return object;
  }

  const result = { ...object };
  for (const [exclusive, inclusive] of BOUNDS) {
    if (typeof result[exclusive] !== 'boolean') {
      continue;
    }
    const bound = result[inclusive];
    if (result[exclusive] === true && typeof bound === 'number') {
      result[exclusive] = bound;
      delete result[inclusive];
    } else {
      delete result[exclusive];
    }
  }
  return result;
}

/** Returns `value` converted at any depth. `isNameMap` is true when its keys are names rather than keywords. */
function convert(value: unknown, converted: Map<object, unknown>, isNameMap = false): unknown {
  if (value === null || typeof value !== 'object') {
    return value;
  }
  const done = converted.get(value);
  if (done !== undefined) {
    return done;
  }

  let result: unknown;
  if (Array.isArray(value)) {
    const items = value.map((item) => convert(item, converted));
    result = items.every((item, index) => item === value[index]) ? value : items;
  } else {
    const object = value as Record<string, unknown>;
    const entries = Object.entries(object).map(([key, member]) => {
      const isData = !isNameMap && (DATA_KEYS.has(key) || key.startsWith('x-'));
      return [key, isData ? member : convert(member, converted, !isNameMap && NAME_MAP_KEYS.has(key))] as const;
    });
    const changed = entries.some(([key, member]) => member !== object[key]);
    result = withNumericBounds(changed ? Object.fromEntries(entries) : object);
  }
  converted.set(value, result);
  return result;
}

/**
 * Returns an OpenAPI 3.0 document with every boolean exclusive bound in the
 * draft 7 form (see withNumericBounds). Examples, defaults, enums and
 * extensions are kept as written. The input is left untouched, and objects
 * without such a bound are shared with it.
 */
export function withDraft7ExclusiveBounds(document: Record<string, unknown>): Record<string, unknown> {
  return convert(document, new Map()) as Record<string, unknown>;
}
