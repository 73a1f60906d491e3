/**
 * Validation of `application/x-www-form-urlencoded` request bodies. Their
 * values arrive as text, like query parameters, so typed properties must
 * have the strict text form of their type before ajv coerces them, and a
 * repeated name becomes an array that fails a scalar property.
 */

import type { Ajv } from 'ajv';

import { StringMemo } from '../cache/string-memo.js';
import { isolateBranchCoercion } from './branch-coercion.js';

import { escapePointerToken, type SchemaViolation } from '../validation-errors.js';
import { foldCase, variantOf } from './parameter-names.js';
import { checkTextForms, type TextType, type TextTypes } from './parameter-text.js';
import { hasUtf8Escapes } from './percent-encoding.js';
import { toRequestSchema } from './request-schema.js';
import { declaredMemberNames, hasPatternOrExtraMembers, memberTextTypesOf } from './text-types.js';
import { decodeUtf8 } from './utf8.js';

type JsonObject = Record<string, unknown>;

export const FORM_MEDIA_TYPE = 'application/x-www-form-urlencoded';

/**
 * Tells whether a form body is UTF-8 both as sent and after percent-decoding.
 * URLSearchParams replaces invalid bytes with U+FFFD, while a lenient
 * upstream decoder may read them as text, such as the overlong `%C0%AE` as
 * `.`, so the upstream would read other values than the gateway checked.
 * Raw text is whole characters, so each run of escapes must decode on its own.
 */
export function isUtf8FormBody(body: Buffer): boolean {
  const text = decodeUtf8(body);
  return text !== undefined && hasUtf8Escapes(text);
}

const SEMICOLON = 0x3b;

/**
 * Tells whether a form body contains a literal `;`. URLSearchParams splits
 * fields only at `&`, but Python's parse_qsl before 3.9.2 and 3.8.8
 * also splits at `;`, so `name=a;role=admin` would carry a field that the
 * schema never saw. Form serializers send `;` as `%3B`.
 */
export function hasLiteralSemicolon(body: Buffer): boolean {
  return body.includes(SEMICOLON);
}

/**
 * Parses a form body with the WHATWG URL standard's parser into one entry
 * per name: a string, or an array of strings for a repeated name. The
 * object has no prototype, so a `__proto__` name is an ordinary property.
 */
function parseForm(body: Buffer): Record<string, string | string[]> {
  const values: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;

  for (const [name, value] of new URLSearchParams(body.toString('utf8'))) {
    const previous = values[name];
    if (previous === undefined) {
      values[name] = value;
    } else if (Array.isArray(previous)) {
      previous.push(value);
    } else {
      values[name] = [previous, value];
    }
  }
  return values;
}

/**
 * Compiles the schema of a form body with `ajv`, which must coerce text to
 * the declared types. Returns a check that gives the schema violations of
 * a body, or undefined for a valid one.
 */
export function compileFormBody(ajv: Ajv, schema: JsonObject): (body: Buffer) => SchemaViolation[] | undefined {
  const validate = ajv.compile(isolateBranchCoercion(toRequestSchema(schema)) as JsonObject);

  const textTypes = declaredTextTypes(schema);

  const declared = [...declaredMemberNames(schema)];
  const foldedNames = declared.map(foldCase);
  return (body) => {
    const values = parseForm(body);
    const forms = checkTextForms(values, textTypes(values));
    if (forms.length > 0) {
      return forms;
    }
    if (!validate(values)) {
      return validate.errors as SchemaViolation[];
    }
    const respelled = respelledFields(Object.keys(values), declared, foldedNames);
    return respelled.length > 0 ? respelled : undefined;
  };
}

/** Limits of the remembered text types of undeclared field names, which callers choose. */
const FIELD_NAME_MEMO = { maxEntries: 256, maxKeyLength: 128 };

/**
 * Returns the text types of the fields of a parsed form body, by name.
 * Properties declared in `allOf`, `anyOf` and `oneOf` branches are coerced
 * too, and so are fields that only `patternProperties` or
 * `additionalProperties` govern.
 */
function declaredTextTypes(schema: JsonObject): (values: Record<string, unknown>) => TextTypes {
  const declared = new Map<string, readonly TextType[]>();
  for (const name of declaredMemberNames(schema)) {
    const accepted = memberTextTypesOf(schema, name);
    if (accepted !== undefined) {
      declared.set(name, accepted);
    }
  }
  if (!hasPatternOrExtraMembers(schema)) {
    return () => declared;
  }

  // The memo keeps no undefined result, so each one is wrapped.
  const undeclared = new StringMemo((name) => ({ accepted: memberTextTypesOf(schema, name) }), FIELD_NAME_MEMO);
  return (values) => {
    const types = new Map(declared);
    for (const name of Object.keys(values)) {
      const accepted = declared.has(name) ? undefined : undeclared.get(name).accepted;
      if (accepted !== undefined) {
        types.set(name, accepted);
      }
    }
    return types;
  };
}

/**
 * Returns a violation for each field that is not a declared property but
 * spells one (see variantOf), such as `owner[]` or `limits[max]`. Only a
 * schema that admits undeclared properties lets such a field through its
 * validation, and Rails, PHP and qs would read it as the property it
 * spells, or as a member of it, which the schema never checked.
 */
function respelledFields(fields: readonly string[], declared: readonly string[], foldedNames: readonly string[]): SchemaViolation[] {
  const violations: SchemaViolation[] = [];
  for (const field of fields) {
    if (declared.includes(field)) {
      continue;
    }
    const spelled = variantOf(field, foldedNames);
    if (spelled !== undefined) {
      const property = declared[foldedNames.indexOf(spelled)] ?? spelled;
      violations.push({
        keyword: 'respelledProperty',
        instancePath: `/${escapePointerToken(field)}`,
        params: { property },
        message: `is read by some servers as the property '${property}' or a member of it, which the schema did not check`,
      });
    }
  }
  return violations;
}

/**
 * Tells whether a schema leaves a body of a media type the gateway cannot
 * parse unconstrained: no schema, an empty one, or a string schema such as
 * `{ type: string, format: binary }` for a file.
 */
export function isOpaqueBodySchema(schema: JsonObject | undefined): boolean {
  if (schema === undefined || Object.keys(schema).length === 0) {
    return true;
  }
  return schema['type'] === 'string' && schema['properties'] === undefined;
}
