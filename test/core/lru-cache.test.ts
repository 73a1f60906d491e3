import { describe, expect, it } from 'vitest';

import { LruCache } from '../../src/core/cache/lru-cache.js';

describe('LRU cache', () => {
  it('deletes a current entry', () => {
    const cache = new LruCache<string, object>(2);
    const entry = {};
    cache.set('key', entry);

    cache.deleteIfCurrent('key', entry);
    expect(cache.peek('key')).toBeUndefined();
  });

  it('keeps a replaced entry', () => {
    const cache = new LruCache<string, object>(2);
    const stale = {};
    const newer = {};
    cache.set('key', stale);
    cache.set('key', newer);

    cache.deleteIfCurrent('key', stale);
    expect(cache.peek('key')).toBe(newer);
  });

  it('leaves the order unchanged', () => {
    const cache = new LruCache<string, object>(2);
    const first = {};
    cache.set('first', first);
    cache.set('second', {});

    cache.deleteIfCurrent('first', {});
    expect(cache.oldest()?.[0]).toBe('first');
  });
});
