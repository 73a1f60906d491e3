import { describe, expect, it } from 'vitest';

import { roundOrder } from '../../bench/lib/rounds.js';

describe('order of the scenarios in each round', () => {
  it('measures every scenario once per round', () => {
    for (let round = 1; round <= 3; round += 1) {
      expect([...roundOrder(14, round, 3)].sort((a, b) => a - b)).toEqual(Array.from({ length: 14 }, (_unused, index) => index));
    }
  });

  it('starts each round further down the list', () => {
    expect(roundOrder(14, 1, 3).slice(0, 3)).toEqual([0, 1, 2]);
    expect(roundOrder(14, 2, 3).slice(0, 3)).toEqual([4, 5, 6]);
    expect(roundOrder(14, 3, 3).slice(0, 3)).toEqual([9, 10, 11]);
  });

  it('puts the last scenario in a different place each round', () => {
    const places = [1, 2, 3].map((round) => roundOrder(14, round, 3).indexOf(13));
    expect(new Set(places).size).toBe(3);
  });

  it('keeps the list as it is with one round', () => {
    expect(roundOrder(4, 1, 1)).toEqual([0, 1, 2, 3]);
  });
});
