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
import type { TextType } from './text-types.js';

export type { TextType };

const TEXT_FORMS: Record<TextType, RegExp> = {
  integer: /^-?(0|[1-9]\d*)$/,
  number: /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/,
  boolean: /^(true|false)$/,
};

/** Digits that start with a zero followed by another digit, after an optional sign. */
const LEADING_ZERO = /^-?0\d/;

/** The text types that each parameter of one location accepts (see textTypesOf), by name. */
export type TextTypes = ReadonlyMap<string, readonly TextType[]>;

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
  return rangeProblem(type, text);
}

/** Returns why `text`, in the plain form of `type`, is outside the values that both sides read alike. */
function rangeProblem(type: TextType, text: string): string | undefined {
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
 * Returns why `text` is a value of none of `types`, or undefined when it is
 * a value of one of them. A text in the plain form of a type but outside its
 * range gets that type's reason.
 */
export function textProblemOfAny(types: readonly TextType[], text: string): string | undefined {
  if (types.length === 1) {
    return textProblem(types[0] as TextType, text);
  }

  const plain = types.filter((type) => TEXT_FORMS[type].test(text));
  if (plain.some((type) => rangeProblem(type, text) === undefined)) {
    return undefined;
  }
  const first = plain[0];
  if (first !== undefined) {
    return rangeProblem(first, text);
  }
  return types.length === 0 ? "has no valid value, because the schema's types exclude each other" : `must be ${types.join(' or ')}`;
}

/**
 * Returns a violation, in the shape of ajv's type errors, for each value
 * of `values` whose text is not the plain form of one of its parameter's
 * types or lies outside the range of exact JavaScript numbers.
 */
export function checkTextForms(values: Record<string, unknown>, types: TextTypes): SchemaViolation[] {
  const violations: SchemaViolation[] = [];

  for (const [name, accepted] of types) {
    const value = values[name];
    const texts = Array.isArray(value) ? value : [value];
    for (const text of texts) {
      const message = typeof text === 'string' ? textProblemOfAny(accepted, text) : undefined;
      if (message !== undefined) {
        violations.push({ keyword: 'type', instancePath: `/${escapePointerToken(name)}`, params: { type: accepted.join(',') }, message });
        break;
      }
    }
  }

  return violations;
}
