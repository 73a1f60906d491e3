import { describe, expect, it } from 'vitest';

import { SeenIds } from '../../src/core/cache/seen-ids.js';

describe('SeenIds', () => {
  it('rejects a second use before expiry', () => {
    const seen = new SeenIds(10);
    expect(seen.use('a', 2000, 1000)).toBe(true);
    expect(seen.use('a', 2000, 1500)).toBe(false);
  });

  it('accepts an id again after it expired', () => {
    const seen = new SeenIds(10);
    expect(seen.use('a', 2000, 1000)).toBe(true);
    expect(seen.use('a', 4000, 2000)).toBe(true);
  });

  it('sweeps expired ids', () => {
    const seen = new SeenIds(10);
    seen.use('a', 2000, 1000);
    seen.use('b', 3000, 1000);
    seen.use('c', 9000, 3500);
    expect(seen.size).toBe(1);
  });

  it('stays within its size', () => {
    const seen = new SeenIds(2);
    seen.use('a', 9000, 1000);
    seen.use('b', 9000, 1000);
    seen.use('c', 9000, 1000);
    expect(seen.size).toBe(2);
    expect(seen.use('b', 9000, 1000)).toBe(false);
    expect(seen.use('a', 9000, 1000)).toBe(true);
  });

  it('rejects a size below one', () => {
    expect(() => new SeenIds(0)).toThrow(RangeError);
  });
});
