import { describe, expect, it } from 'vitest';

import { checkTextForms, textTypeOf } from '../../src/core/openapi/parameter-text.js';

describe('parameter text forms', () => {
  it.each([
    [{ type: 'integer' }, 'integer'],
    [{ type: ['integer', 'null'] }, 'integer'],
    [{ type: 'number' }, 'number'],
    [{ type: 'boolean' }, 'boolean'],
    [{ type: 'array', items: { type: 'integer' } }, 'integer'],
    [{ type: ['integer', 'string'] }, undefined],
    [{ type: 'string' }, undefined],
    [{}, undefined],
  ])('finds the text type of %j', (schema, expected) => {
    expect(textTypeOf(schema)).toBe(expected);
  });

  it.each([
    ['integer', '42', true],
    ['integer', '-7', true],
    ['integer', '007', true],
    ['integer', '1.', false],
    ['integer', '0x10', false],
    ['integer', '1e2', false],
    ['integer', ' 1', false],
    ['integer', '+1', false],
    ['integer', '', false],
    ['number', '1.5', true],
    ['number', '-2e-3', true],
    ['number', '.5', false],
    ['number', 'Infinity', false],
    ['number', 'NaN', false],
    ['boolean', 'true', true],
    ['boolean', 'TRUE', false],
    ['boolean', '1', false],
  ] as const)('checks %s text %j', (type, text, accepted) => {
    const violations = checkTextForms({ value: text }, new Map([['value', type]]));
    expect(violations.length === 0).toBe(accepted);
  });

  it('checks every value of a repeated parameter', () => {
    const violations = checkTextForms({ ids: ['1', '2x'] }, new Map([['ids', 'integer' as const]]));
    expect(violations).toEqual([{ keyword: 'type', instancePath: '/ids', params: { type: 'integer' }, message: 'must be integer' }]);
  });

  it('skips parameters that are absent', () => {
    expect(checkTextForms({}, new Map([['limit', 'integer' as const]]))).toEqual([]);
  });
});
