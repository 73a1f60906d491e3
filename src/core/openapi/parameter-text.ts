/**
 * Strict text forms for typed path, query and header parameters.
 *
 * ajv coerces any non-empty string that JavaScript's Number() accepts, so `1.`,
 * ` 1`, `0x10` and `1e2` would all pass as integers. The upstream parses
 * the raw text with its own rules and may read another value, or reject
 * it. The gateway therefore accepts only the plain decimal forms below
 * before ajv coerces a value, so that both sides read the same number.
 *
 * Leading zeros are refused too: ajv reads `010` as ten, while a parser
 * that guesses the base from the text (C's strtol with base 0, PHP's
 * intval with base 0, Perl's oct) reads it as octal eight. An object-level
 * binding that allowed account 10 would then let the upstream serve
 * account 8. The forms are JSON's number grammar, which has the same rule.
 */

import { escapePointerToken, type SchemaViolation } from '../validation-errors.js';
import { hasInexactNumber } from './json-body.js';

type JsonObject = Record<string, unknown>;

/** A scalar type whose text form is checked. */
export type TextType = 'integer' | 'number' | 'boolean';

const TEXT_FORMS: Record<TextType, RegExp> = {
  integer: /^-?(0|[1-9]\d*)$/,
  number: /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/,
  boolean: /^(true|false)$/,
};

/** Digits that start with a zero followed by another digit, after an optional sign. */
const LEADING_ZERO = /^-?0\d/;

/** The parameters of one location whose values must have a strict text form, by name. */
export type TextTypes = ReadonlyMap<string, TextType>;

function declaredTypes(schema: JsonObject): string[] {
  const type = schema['type'];
  if (typeof type === 'string') {
    return [type];
  }
  return Array.isArray(type) ? type.filter((entry): entry is string => typeof entry === 'string') : [];
}

/**
 * Returns the scalar type whose text form a parameter schema requires, or
 * undefined when any text is acceptable (strings, or no declared type). An
 * array parameter is checked by its item type.
 */
export function textTypeOf(schema: JsonObject): TextType | undefined {
  const types = declaredTypes(schema);
  if (types.includes('array') && typeof schema['items'] === 'object' && schema['items'] !== null) {
    return textTypeOf(schema['items'] as JsonObject);
  }
  if (types.length === 0 || types.includes('string')) {
    return undefined;
  }

  return (['integer', 'number', 'boolean'] as const).find((type) => types.includes(type));
}

/**
 * Returns why `text` is not a value of `type`, or undefined when it is.
 * Beyond its plain form, an integer must be a safe integer, because a larger
 * one would be rounded before ajv checks it, and a number must be finite
 * (`1e400` would become Infinity) and keep its value as a double.
 */
function textProblem(type: TextType, text: string): string | undefined {
  if (!TEXT_FORMS[type].test(text)) {
    return LEADING_ZERO.test(text) && type !== 'boolean' ? `must be ${type} without leading zeros` : `must be ${type}`;
  }
  if (type === 'integer' && !Number.isSafeInteger(Number(text))) {
    return `must be an integer from ${Number.MIN_SAFE_INTEGER} to ${Number.MAX_SAFE_INTEGER}`;
  }
  if (type === 'number' && !Number.isFinite(Number(text))) {
    return 'must be a finite number';
  }
  // The text form is JSON's number grammar, so the body check applies. ajv
  // checks the double, so `10.0000000000000001` would pass `maximum: 10`
  // while an upstream that parses the exact decimal reads more than 10.
  if (type === 'number' && hasInexactNumber(text)) {
    return 'must be a number that a double holds exactly, such as one with at most 15 significant digits';
  }
  return undefined;
}

/**
 * Returns a violation, in the shape of ajv's type errors, for each value
 * of `values` whose text is not the plain form of its parameter's type or
 * lies outside the range of exact JavaScript numbers.
 */
export function checkTextForms(values: Record<string, unknown>, types: TextTypes): SchemaViolation[] {
  const violations: SchemaViolation[] = [];

  for (const [name, type] of types) {
    const value = values[name];
    const texts = Array.isArray(value) ? value : [value];
    for (const text of texts) {
      const message = typeof text === 'string' ? textProblem(type, text) : undefined;
      if (message !== undefined) {
        violations.push({ keyword: 'type', instancePath: `/${escapePointerToken(name)}`, params: { type }, message });
        break;
      }
    }
  }

  return violations;
}
