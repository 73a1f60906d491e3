import { describe, expect, it } from 'vitest';

import { LastUseThrottle } from '../../src/api-keys/last-use-throttle.js';

describe('last use throttle', () => {
  it('records a key once per interval', () => {
    const throttle = new LastUseThrottle(60, 100);

    expect(throttle.shouldRecord('key-a', 1_000)).toBe(true);
    expect(throttle.shouldRecord('key-a', 1_059)).toBe(false);
    expect(throttle.shouldRecord('key-b', 1_059)).toBe(true);
    expect(throttle.shouldRecord('key-a', 1_060)).toBe(true);
  });

  it('forgets expired times at its bound', () => {
    const throttle = new LastUseThrottle(60, 3);
    throttle.shouldRecord('old-1', 1_000);
    throttle.shouldRecord('old-2', 1_000);
    throttle.shouldRecord('recent', 1_050);

    expect(throttle.shouldRecord('new', 1_070)).toBe(true);

    expect(throttle.size).toBe(2);
    expect(throttle.shouldRecord('recent', 1_071)).toBe(false);
  });

  it('stays within its bound', () => {
    const throttle = new LastUseThrottle(60, 3);

    for (let index = 0; index < 1_000; index += 1) {
      expect(throttle.shouldRecord(`key-${index}`, 1_000)).toBe(true);
      expect(throttle.size).toBeLessThanOrEqual(3);
    }
  });

  it('keeps a re-recorded key among the recent', () => {
    const throttle = new LastUseThrottle(60, 2);
    throttle.shouldRecord('first', 1_000);
    throttle.shouldRecord('second', 1_030);
    throttle.shouldRecord('first', 1_065);

    expect(throttle.shouldRecord('third', 1_095)).toBe(true);

    // 'second' expired and was dropped. 'first' was recorded again at 1,065, so it stays.
    expect(throttle.size).toBe(2);
    expect(throttle.shouldRecord('first', 1_096)).toBe(false);
  });
});
