import type { Ajv, ValidateFunction } from 'ajv';

import { StringMemo } from '../cache/string-memo.js';
import type { FieldError } from '../problem.js';
import { toFieldErrors, type SchemaViolation } from '../validation-errors.js';
import { hasAccessAnnotation } from './annotations.js';
import { compilingSchemasOf, mediaTypeEntries, OpenApiError } from './operations.js';
import { isJsonMediaType } from './json-body.js';
import { isJsonObject } from './json-object.js';
import { compilePattern, describesObjects, filterResponse, hasHidingAlternative } from './response-filter.js';
import { checkSchemaForms } from './schema-forms.js';

type Schema = Record<string, unknown>;

/** The outcome of checking one parsed JSON response body. */
export interface ResponseCheck {
  /** The body without undeclared and `writeOnly` properties. */
  value: unknown;
  /** Pointers of the first removed properties, for the log. */
  removed: string[];
  removedCount: number;
  /** Violations of the declared schema after filtering; empty when the body is valid. */
  errors: FieldError[];
}

/** The treatment of one upstream response, chosen by its status and Content-Type. */
export type ResponseRule =
  | { kind: 'undeclared' }
  | { kind: 'empty' }
  | { kind: 'undeclared_media_type'; declared: string[] }
  | { kind: 'unchecked' }
  | { kind: 'unfilterable_media_type' }
  | { kind: 'json'; check(value: unknown): ResponseCheck };

/** The declared responses of one operation. */
export interface ResponseRules {
  select(status: number, contentType: string | undefined): ResponseRule;
  /** Tells whether the operation declares `status` itself, not through a range such as `2XX` or through `default`. */
  declaresStatus(status: number): boolean;
}

const NESTED_SCHEMA_KEYS = ['items', 'additionalProperties', 'unevaluatedProperties', 'not', 'contains', 'if', 'then', 'else'];
const SCHEMA_LIST_KEYS = ['allOf', 'anyOf', 'oneOf', 'prefixItems'];
const SCHEMA_MAP_KEYS = ['properties', 'patternProperties'];

/** Returns the schema objects directly below `schema`. */
function subschemas(schema: Schema): unknown[] {
  return [
    ...NESTED_SCHEMA_KEYS.map((key) => schema[key]),
    ...SCHEMA_LIST_KEYS.flatMap((key) => (Array.isArray(schema[key]) ? schema[key] : [])),
    ...SCHEMA_MAP_KEYS.flatMap((key) => (isJsonObject(schema[key]) ? Object.values(schema[key]) : [])),
  ];
}

/**
 * Returns the response form of `schema`: a `writeOnly` property is dropped
 * from `required`, since OpenAPI requires it only in requests, and so is
 * one with a `writeOnly` branch, which the filter may remove. The input is
 * left untouched; `seen` keeps shared subschemas shared.
 */
export function toResponseSchema(schema: unknown, seen = new Map<object, Schema>()): unknown {
  return isJsonObject(schema) ? (seen.get(schema) ?? copyForResponses(schema, seen)) : schema;
}

function copyForResponses(schema: Schema, seen: Map<object, Schema>): Schema {
  const result: Schema = { ...schema };
  seen.set(schema, result);

  const properties = isJsonObject(schema['properties']) ? schema['properties'] : undefined;
  if (properties !== undefined && Array.isArray(schema['required'])) {
    result['required'] = schema['required'].filter((name) => {
      const property = properties[String(name)];
      return !hasAccessAnnotation(property, 'writeOnly') && !hasHidingAlternative(property);
    });
  }

  for (const key of [...NESTED_SCHEMA_KEYS, ...SCHEMA_LIST_KEYS, ...SCHEMA_MAP_KEYS]) {
    const value = result[key];
    if (Array.isArray(value)) {
      result[key] = value.map((entry) => toResponseSchema(entry, seen));
    } else if (isJsonObject(value) && SCHEMA_MAP_KEYS.includes(key)) {
      result[key] = Object.fromEntries(Object.entries(value).map(([name, entry]) => [name, toResponseSchema(entry, seen)]));
    } else if (isJsonObject(value)) {
      result[key] = toResponseSchema(value, seen);
    }
  }

  return result;
}

/**
 * Compiles a validator for every branch of `anyOf` and `oneOf` and every
 * `if` below `schema`, and the regular expression of every name in
 * `patternProperties`. The filter then compiles nothing while a response is
 * in flight, and an invalid pattern stops the start. Ajv compiles no
 * pattern whose schema accepts everything in draft 7, which OpenAPI 3.0
 * documents use, so only this compilation finds it there.
 */
function compileFilterChecks(ajv: Ajv, schema: unknown): Map<Schema, ValidateFunction> {
  const tests = new Map<Schema, ValidateFunction>();

  for (const current of schemasWithin(schema)) {
    const branches = [...['anyOf', 'oneOf'].flatMap((key) => (Array.isArray(current[key]) ? current[key] : [])), current['if']];
    for (const branch of branches) {
      if (isJsonObject(branch) && !tests.has(branch)) {
        tests.set(branch, ajv.compile(toResponseSchema(branch) as Schema));
      }
    }
    if (isJsonObject(current['patternProperties'])) {
      Object.keys(current['patternProperties']).forEach(compilePattern);
    }
  }

  return tests;
}

/** Yields `schema` and every schema object below it, each once. */
function* schemasWithin(schema: unknown): Generator<Schema> {
  const visited = new Set<Schema>();
  const pending = [schema];

  while (pending.length > 0) {
    const current = pending.pop();
    if (!isJsonObject(current) || visited.has(current)) {
      continue;
    }
    visited.add(current);
    yield current;
    pending.push(...subschemas(current));
  }
}

function compileJsonCheck(ajv: Ajv, schema: Schema): (value: unknown) => ResponseCheck {
  checkSchemaForms(schema);
  const validate = ajv.compile(toResponseSchema(schema) as Schema);
  const branchTests = compileFilterChecks(ajv, schema);
  const test = (branch: Schema, value: unknown): boolean => branchTests.get(branch)?.(value) === true;

  return (value) => {
    const { unremovable, ...filtered } = filterResponse(value, schema, test);
    const valid = validate(filtered.value);
    const errors = valid ? [] : toFieldErrors((validate.errors ?? []) as SchemaViolation[], 'body');
    for (const pointer of unremovable) {
      errors.push({ pointer: `/body${pointer}`, detail: 'is a write-only item at a prefixItems position, which the gateway cannot remove without moving the items after it' });
    }
    return { ...filtered, errors };
  };
}

/** Limits of the remembered rules per Content-Type value of one declared response. */
const CONTENT_TYPE_MEMO = { maxEntries: 16, maxKeyLength: 128 };

/**
 * Tells whether `schema`, or a schema below it, describes objects or is
 * write-only, so that the filter could remove properties or array items
 * from a value it governs.
 */
function mayNeedFiltering(schema: unknown): boolean {
  for (const current of schemasWithin(schema)) {
    if (describesObjects(current) || hasAccessAnnotation(current, 'writeOnly')) {
      return true;
    }
  }
  return false;
}

/** One declared media type: the check of a JSON body, and whether its schema needs the filter (see mayNeedFiltering). */
interface DeclaredContent {
  check: ((value: unknown) => ResponseCheck) | undefined;
  hasObjects: boolean;
}

/**
 * Compiles the rules for the content of one declared response. A body is
 * checked when its own media type is JSON and the matching declaration
 * (exact, then a range such as `application/*`, then `*\/*`) has a schema.
 * A body of another media type is relayed unchecked, unless that schema
 * describes objects or write-only values. The gateway cannot remove
 * undeclared or `writeOnly` properties or items from XML, YAML or CSV. An upstream that picks the format by
 * Accept, as Spring MVC does, would send every property of such an object
 * in them, and springdoc-openapi 2 declares its responses as `*\/*` by
 * default (`springdoc.default-produces-media-type`).
 */
function compileContent(ajv: Ajv, where: string, content: unknown): (contentType: string | undefined) => ResponseRule {
  if (!isJsonObject(content) || Object.keys(content).length === 0) {
    return () => ({ kind: 'empty' });
  }

  const declarations = new Map<string, DeclaredContent>();
  for (const [type, media] of mediaTypeEntries(where, content)) {
    const schema = isJsonObject(media) ? media['schema'] : undefined;
    // JSON Schema 2020-12 (OpenAPI 3.1) allows the boolean schemas true and false.
    const body = schema === true ? {} : schema === false ? { not: {} } : schema;
    const check = isJsonObject(body) ? compileJsonCheck(ajv, body) : undefined;
    declarations.set(type, { check, hasObjects: mayNeedFiltering(body) });
  }
  const declared = [...declarations.keys()];

  const ruleOf = (contentType: string): ResponseRule => {
    const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
    const key = [type, `${type.split('/')[0]}/*`, '*/*'].find((candidate) => declarations.has(candidate));
    if (key === undefined) {
      return { kind: 'undeclared_media_type', declared };
    }

    const { check, hasObjects } = declarations.get(key) as DeclaredContent;
    if (check !== undefined && isJsonMediaType(type)) {
      return { kind: 'json', check };
    }
    return hasObjects ? { kind: 'unfilterable_media_type' } : { kind: 'unchecked' };
  };

  // An upstream sends the same few Content-Type values, so their rules are remembered.
  const rules = new StringMemo(ruleOf, CONTENT_TYPE_MEMO);
  return (contentType) => rules.get(contentType ?? '');
}

/**
 * Compiles the `responses` object of an operation. A status is looked up
 * as itself, then as its range (`2XX`), then as `default`, the order that
 * OpenAPI gives. Throws OpenApiError for a key that is none of these.
 */
export function compileResponses(ajv: Ajv, operationName: string, responses: unknown): ResponseRules {
  const byKey = new Map<string, (contentType: string | undefined) => ResponseRule>();

  for (const [key, response] of Object.entries(isJsonObject(responses) ? responses : {})) {
    const normalized = key.toUpperCase();
    if (!/^([1-5][0-9][0-9]|[1-5]XX|DEFAULT)$/.test(normalized)) {
      throw new OpenApiError(`${operationName} declares the response '${key}'; use a status code, a range such as 2XX, or default`);
    }
    const content = isJsonObject(response) ? response['content'] : undefined;
    const where = `${operationName}: response ${key}`;
    byKey.set(normalized, compilingSchemasOf(where, () => compileContent(ajv, where, content)));
  }

  return {
    select(status, contentType) {
      const rule = byKey.get(String(status)) ?? byKey.get(`${String(status)[0]}XX`) ?? byKey.get('DEFAULT');
      return rule === undefined ? { kind: 'undeclared' } : rule(contentType);
    },
    declaresStatus(status) {
      return byKey.has(String(status));
    },
  };
}
