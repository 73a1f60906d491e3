import { describe, expect, it } from 'vitest';

import { SeenIds } from '../../src/core/cache/seen-ids.js';

describe('SeenIds', () => {
  it('rejects a second use before expiry', () => {
    const seen = new SeenIds(10);
    expect(seen.use('a', 2000, 1000)).toBe('accepted');
    expect(seen.use('a', 2000, 1500)).toBe('reused');
  });

  it('accepts an id again after it expired', () => {
    const seen = new SeenIds(10);
    expect(seen.use('a', 2000, 1000)).toBe('accepted');
    expect(seen.use('a', 4000, 2000)).toBe('accepted');
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
    expect(seen.use('b', 9000, 1000)).toBe('reused');
  });

  it('rejects a forgotten id until it expires', () => {
    const seen = new SeenIds(2);
    seen.use('a', 5000, 1000);
    seen.use('b', 6000, 1000);
    expect(seen.use('c', 7000, 1000)).toBe('accepted');

    expect(seen.use('a', 5000, 1500)).toBe('forgotten');
    expect(seen.use('a', 5000, 4999)).toBe('forgotten');
    expect(seen.size).toBe(2);
  });

  it('rejects ids older than forgotten ones', () => {
    const seen = new SeenIds(2);
    seen.use('a', 5000, 1000);
    seen.use('b', 6000, 1000);
    seen.use('c', 7000, 1000);

    expect(seen.use('late', 5000, 1000)).toBe('forgotten');
    expect(seen.use('later', 5001, 1000)).toBe('accepted');
  });

  it('forgets no id it has room for', () => {
    const seen = new SeenIds(2);
    seen.use('a', 2000, 1000);
    seen.use('b', 9000, 1000);
    expect(seen.use('c', 9000, 2500)).toBe('accepted');
    expect(seen.use('old', 2000, 1000)).toBe('accepted');
  });

  it('rejects a size below one', () => {
    expect(() => new SeenIds(0)).toThrow(RangeError);
  });
});
