/**
 * Keeps ajv's type coercion of text inside the subschema that requests it.
 *
 * ajv coerces a value in place, so every keyword that runs later gets the
 * converted value. In `anyOf: [{type: integer, maximum: 5}, {type: string,
 * maxLength: 2}]` the integer branch turns `0x10` into 16 and the string
 * branch then checks the text `16`, so the text passes although the
 * upstream reads it as neither. The same happens between the branches of
 * `oneOf` and `allOf`, in `not` and `if`, in schema dependencies and
 * between `properties`, `patternProperties` and `additionalProperties`.
 *
 * isolateBranchCoercion wraps each such subschema so that it records the
 * value on entry and puts it back on exit, and so that it accepts text only
 * in the strict form of its types (see parameter-text.ts). Schemas under
 * `items` and `contains` are not wrapped: they apply to other values than
 * their parent, and `uniqueItems` must compare the converted items.
 */

import type { Ajv, SchemaValidateFunction } from 'ajv';
import type { DataValidationCxt } from 'ajv/dist/types/index.js';

import { textProblemOfAny } from './parameter-text.js';
import { textTypesOf, type TextType } from './text-types.js';
import { isJsonObject } from './json-object.js';

type JsonObject = Record<string, unknown>;

const RECORD_KEYWORD = 'x-portcullis-record-text';
const RESTORE_KEYWORD = 'x-portcullis-restore-text';
const TEXT_FORM_KEYWORD = 'x-portcullis-text-form';

/** Keywords whose subschemas apply to the value itself. */
const SAME_VALUE_LISTS = ['allOf', 'anyOf', 'oneOf'];
const SAME_VALUE_SCHEMAS = ['not', 'if', 'then', 'else'];
const SAME_VALUE_MAPS = ['dependentSchemas', 'dependencies'];

/** Keywords whose subschemas apply to members, where several of them may apply to one member. */
const MEMBER_MAPS = ['properties', 'patternProperties'];
const MEMBER_SCHEMAS = ['additionalProperties', 'unevaluatedProperties'];

/** Keywords whose subschemas apply to items, which are rewritten but not wrapped. */
const ITEM_SCHEMAS = ['items', 'additionalItems', 'unevaluatedItems', 'contains'];
const ITEM_LISTS = ['items', 'prefixItems'];

/** The recorded values of one validation, by wrapper and instance path. */
const recorded = new WeakMap<object, Map<string, unknown>>();

function copyValue(value: unknown): unknown {
  if (Array.isArray(value)) {
    return value.map(copyValue);
  }
  if (isJsonObject(value)) {
    const copy = Object.create(null) as JsonObject;
    for (const [key, member] of Object.entries(value)) {
      copy[key] = copyValue(member);
    }
    return copy;
  }
  return value;
}

function recordingKey(id: number, context: DataValidationCxt): string {
  return `${id} ${context.instancePath}`;
}

function recordText(id: number, data: unknown, _schema: unknown, context?: DataValidationCxt): boolean {
  if (context === undefined) {
    return true;
  }
  let values = recorded.get(context.rootData);
  if (values === undefined) {
    values = new Map();
    recorded.set(context.rootData, values);
  }
  values.set(recordingKey(id, context), copyValue(data));
  return true;
}

/**
 * Puts back the value recorded on entry. The root of a validation has no
 * parent to assign to, and it is always an object, so its members are
 * replaced in place.
 */
function restoreText(id: number, data: unknown, _schema: unknown, context?: DataValidationCxt): boolean {
  if (context === undefined) {
    return true;
  }
  const key = recordingKey(id, context);
  const values = recorded.get(context.rootData);
  if (values === undefined || !values.has(key)) {
    return true;
  }
  const value = copyValue(values.get(key));
  values.delete(key);

  if (context.parentData !== undefined) {
    (context.parentData as JsonObject)[context.parentDataProperty] = value;
  } else if (isJsonObject(data) && isJsonObject(value)) {
    for (const name of Object.keys(data)) {
      delete data[name];
    }
    Object.assign(data, value);
  }
  return true;
}

const checkTextForm: SchemaValidateFunction = (types: TextType[], data: unknown, _schema?: unknown, context?: DataValidationCxt) => {
  const texts: unknown[] = Array.isArray(data) ? data : [data];
  for (const text of texts) {
    const message = typeof text === 'string' ? textProblemOfAny(types, text) : undefined;
    if (message !== undefined) {
      const instancePath = context?.instancePath ?? '';
      checkTextForm.errors = [{ keyword: 'type', instancePath, schemaPath: '', params: { type: types.join(',') }, message }];
      return false;
    }
  }
  return true;
};

/** Adds the keywords of isolateBranchCoercion to an ajv instance that coerces types. */
export function addBranchCoercionKeywords(ajv: Ajv): void {
  ajv.addKeyword({ keyword: RECORD_KEYWORD, schemaType: 'number', validate: recordText });
  ajv.addKeyword({ keyword: RESTORE_KEYWORD, modifying: true, schemaType: 'number', validate: restoreText });
  ajv.addKeyword({ keyword: TEXT_FORM_KEYWORD, schemaType: 'array', errors: true, validate: checkTextForm });
}

/** Rewrites `schema` so that each subschema that may coerce its value leaves that value as it found it. */
export function isolateBranchCoercion(schema: unknown): unknown {
  return new Rewriter().rewrite(schema);
}

class Rewriter {
  private nextId = 0;

  rewrite(schema: unknown): unknown {
    if (!isJsonObject(schema)) {
      return schema;
    }

    const result: JsonObject = { ...schema };
    for (const key of SAME_VALUE_LISTS) {
      result[key] = this.mapList(schema[key], (branch) => this.wrap(branch));
    }
    for (const key of [...SAME_VALUE_SCHEMAS, ...MEMBER_SCHEMAS]) {
      result[key] = isJsonObject(schema[key]) ? this.wrap(schema[key]) : schema[key];
    }
    for (const key of [...SAME_VALUE_MAPS, ...MEMBER_MAPS]) {
      result[key] = this.mapMembers(schema[key], (member) => this.wrap(member));
    }
    for (const key of ITEM_SCHEMAS) {
      result[key] = isJsonObject(schema[key]) ? this.rewrite(schema[key]) : schema[key];
    }
    for (const key of ITEM_LISTS) {
      result[key] = this.mapList(result[key], (item) => this.rewrite(item));
    }
    for (const key of Object.keys(result)) {
      if (result[key] === undefined && !Object.hasOwn(schema, key)) {
        delete result[key];
      }
    }
    return result;
  }

  /** Wraps a subschema: record the value, check its text form, apply it, and put the value back. */
  private wrap(schema: unknown): unknown {
    if (!isJsonObject(schema)) {
      return schema;
    }

    const id = this.nextId++;
    const entry: JsonObject = { [RECORD_KEYWORD]: id };
    const types = textTypesOf(schema);
    if (types !== undefined) {
      entry[TEXT_FORM_KEYWORD] = [...types];
    }
    return { allOf: [entry, this.rewrite(schema), { [RESTORE_KEYWORD]: id }] };
  }

  private mapList(value: unknown, map: (schema: unknown) => unknown): unknown {
    return Array.isArray(value) ? value.map(map) : value;
  }

  private mapMembers(value: unknown, map: (schema: unknown) => unknown): unknown {
    if (!isJsonObject(value)) {
      return value;
    }
    // `dependencies` may map a name to a list of names, which stays as it is.
    return Object.fromEntries(Object.entries(value).map(([name, member]) => [name, map(member)]));
  }
}
