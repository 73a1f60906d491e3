import { describe, expect, it } from 'vitest';

import { checkTextForms } from '../../src/core/openapi/parameter-text.js';
import { memberTextTypesOf, textTypesOf } from '../../src/core/openapi/text-types.js';

describe('parameter text forms', () => {
  it.each([
    [{ type: 'integer' }, ['integer']],
    [{ type: ['integer', 'null'] }, ['integer']],
    [{ type: 'number' }, ['number']],
    [{ type: 'boolean' }, ['boolean']],
    [{ type: 'array', items: { type: 'integer' } }, ['integer']],
    [{ type: ['integer', 'boolean'] }, ['integer', 'boolean']],
    [{ type: ['integer', 'string'] }, undefined],
    [{ type: 'string' }, undefined],
    [{}, undefined],
    [{ allOf: [{ type: 'integer' }] }, ['integer']],
    [{ type: 'number', allOf: [{ type: 'integer' }] }, ['integer']],
    [{ allOf: [{ type: 'integer' }, { type: 'number' }] }, ['integer']],
    [{ allOf: [{ type: 'boolean' }, { type: 'integer' }] }, []],
    [{ oneOf: [{ type: 'integer' }, { type: 'boolean' }] }, ['integer', 'boolean']],
    [{ anyOf: [{ type: 'integer' }, { type: 'string' }] }, undefined],
    [{ type: 'array', items: { allOf: [{ type: 'number' }] } }, ['number']],
  ])('finds the text types of %j', (schema, expected) => {
    expect(textTypesOf(schema)).toEqual(expected);
  });

  it('finds the text types of a composed member', () => {
    const composed = { allOf: [{ properties: { size: { type: 'integer' } } }, { properties: { size: { minimum: 1 }, gift: { type: 'boolean' } } }] };
    const alternatives = {
      oneOf: [
        { type: 'object', properties: { rush: { type: 'boolean' } } },
        { type: 'object', properties: { note: { type: 'string' } } },
        { type: 'object', additionalProperties: true, properties: { count: { type: 'integer' } } },
      ],
    };

    expect(memberTextTypesOf(composed, 'size')).toEqual(['integer']);
    expect(memberTextTypesOf(composed, 'gift')).toEqual(['boolean']);
    // The closed alternatives without `rush` reject it, but the open one takes any text.
    expect(memberTextTypesOf(alternatives, 'rush')).toBeUndefined();
    expect(memberTextTypesOf({ oneOf: alternatives.oneOf.slice(0, 2) }, 'rush')).toEqual(['boolean']);
    expect(memberTextTypesOf(alternatives, 'count')).toEqual(['integer']);
    expect(memberTextTypesOf(alternatives, 'note')).toBeUndefined();
  });

  it('finds the text types of unnamed members', () => {
    const schema = {
      properties: { size: { type: 'number' } },
      patternProperties: { '^(size|count)$': { type: 'integer' } },
      additionalProperties: { type: 'boolean' },
      allOf: [{ properties: { note: { type: 'string' } } }],
      unevaluatedProperties: { type: 'integer' },
    };

    expect(memberTextTypesOf(schema, 'size')).toEqual(['integer']);
    expect(memberTextTypesOf(schema, 'count')).toEqual(['integer']);
    expect(memberTextTypesOf(schema, 'gift')).toEqual(['boolean']);
    expect(memberTextTypesOf({ unevaluatedProperties: { type: 'integer' }, allOf: [{ properties: { note: { type: 'string' } } }] }, 'note')).toBeUndefined();
    expect(memberTextTypesOf({ unevaluatedProperties: { type: 'integer' } }, 'other')).toEqual(['integer']);
  });

  it.each([
    ['integer', '42', true],
    ['integer', '-7', true],
    ['integer', '007', false],
    ['integer', '0', true],
    ['integer', '-0', true],
    ['integer', '-010', false],
    ['integer', '1.', false],
    ['integer', '0x10', false],
    ['integer', '1e2', false],
    ['integer', ' 1', false],
    ['integer', '+1', false],
    ['integer', '', false],
    ['integer', '9007199254740991', true],
    ['integer', '-9007199254740991', true],
    ['integer', '9007199254740992', false],
    ['integer', '-99999999999999999999', false],
    ['number', '1.5', true],
    ['number', '1e308', true],
    ['number', '1e400', false],
    ['number', '-1e400', false],
    ['number', '-2e-3', true],
    ['number', '19.99', true],
    ['number', '1e-7', true],
    ['number', '0.30000000000000004', true],
    ['number', '10.0000000000000001', false],
    ['number', '-1e-400', false],
    ['number', '12345678901234567891', false],
    ['number', '.5', false],
    ['number', '0.5', true],
    ['number', '00.5', false],
    ['number', '010e1', false],
    ['number', 'Infinity', false],
    ['number', 'NaN', false],
    ['boolean', 'true', true],
    ['boolean', 'TRUE', false],
    ['boolean', '1', false],
  ] as const)('checks %s text %j', (type, text, accepted) => {
    const violations = checkTextForms({ value: text }, new Map([['value', [type]]]));
    expect(violations.length === 0).toBe(accepted);
  });

  it('checks every value of a repeated parameter', () => {
    const violations = checkTextForms({ ids: ['1', '2x'] }, new Map([['ids', ['integer' as const]]]));
    expect(violations).toEqual([{ keyword: 'type', instancePath: '/ids', params: { type: 'integer' }, message: 'must be integer' }]);
  });

  it('names leading zeros', () => {
    const violations = checkTextForms({ account: '010' }, new Map([['account', ['integer' as const]]]));
    expect(violations[0]?.message).toBe('must be integer without leading zeros');
  });

  it('names the safe integer range', () => {
    const violations = checkTextForms({ id: '9007199254740993' }, new Map([['id', ['integer' as const]]]));
    expect(violations[0]?.message).toBe('must be an integer from -9007199254740991 to 9007199254740991');
  });

  it('names a non-finite number', () => {
    const violations = checkTextForms({ ratio: '1e400' }, new Map([['ratio', ['number' as const]]]));
    expect(violations[0]?.message).toBe('must be a finite number');
  });

  it('names a number a double changes', () => {
    const violations = checkTextForms({ ratio: '1.0000000000000001' }, new Map([['ratio', ['number' as const]]]));
    expect(violations[0]?.message).toBe('must be a number that a double holds exactly, such as one with at most 15 significant digits');
  });

  it('names types that exclude each other', () => {
    const violations = checkTextForms({ flag: 'true' }, new Map([['flag', []]]));
    expect(violations[0]?.message).toBe("has no valid value, because the schema's types exclude each other");
  });

  it('skips parameters that are absent', () => {
    expect(checkTextForms({}, new Map([['limit', ['integer' as const]]]))).toEqual([]);
  });
});
