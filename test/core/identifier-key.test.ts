import { describe, expect, it } from 'vitest';

import { identifierKey } from '../../src/core/registration-rules.js';

describe('identifier key', () => {
  it.each([
    ['MiKe_1', 'mike_1'],
    ['MIKE@EXAMPLE.COM', 'mike@example.com'],
    ['already_lower', 'already_lower'],
  ])('lower-cases ASCII letters of %s', (value, key) => {
    expect(identifierKey(value)).toBe(key);
  });

  it.each([
    ['a Kelvin sign', '\u212Aelvin'],
    ['a dotted capital I', '\u0130nput'],
    ['fullwidth capitals', '\uFF2D\uFF29\uFF2B\uFF25'],
    ['a Cyrillic capital A', '\u0410dmin'],
  ])('keeps %s as it is', (_name, value) => {
    expect(identifierKey(value)).toBe(value);
  });
});
