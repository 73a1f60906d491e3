import { describe, expect, it } from 'vitest';

import { StringMemo } from '../../src/core/cache/string-memo.js';

/** Returns a memo of the upper-case form and the list of keys it computed. */
function countingMemo(limits: { maxEntries: number; maxKeyLength: number }): { memo: StringMemo<string>; computed: string[] } {
  const computed: string[] = [];
  const memo = new StringMemo((key) => {
    computed.push(key);
    return key.toUpperCase();
  }, limits);
  return { memo, computed };
}

describe('StringMemo', () => {
  it('computes a repeated key once', () => {
    const { memo, computed } = countingMemo({ maxEntries: 4, maxKeyLength: 10 });

    expect(memo.get('abc')).toBe('ABC');
    expect(memo.get('abc')).toBe('ABC');

    expect(computed).toEqual(['abc']);
    expect(memo.size).toBe(1);
  });

  it('never remembers a long key', () => {
    const { memo, computed } = countingMemo({ maxEntries: 4, maxKeyLength: 3 });

    expect(memo.get('abcd')).toBe('ABCD');
    expect(memo.get('abcd')).toBe('ABCD');

    expect(computed).toEqual(['abcd', 'abcd']);
    expect(memo.size).toBe(0);
  });

  it('empties itself when full', () => {
    const { memo, computed } = countingMemo({ maxEntries: 2, maxKeyLength: 10 });

    memo.get('a');
    memo.get('b');
    expect(memo.size).toBe(2);
    expect(memo.get('c')).toBe('C');

    expect(memo.size).toBe(1);
    expect(memo.get('a')).toBe('A');
    expect(computed).toEqual(['a', 'b', 'c', 'a']);
  });

  it('remembers false results', () => {
    let computations = 0;
    const memo = new StringMemo(() => {
      computations += 1;
      return false;
    }, { maxEntries: 2, maxKeyLength: 10 });

    expect(memo.get('x')).toBe(false);
    expect(memo.get('x')).toBe(false);

    expect(computations).toBe(1);
  });
});
