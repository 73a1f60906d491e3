import { describe, expect, it } from 'vitest';

import { formatRatio } from '../../bench/lib/targets.js';

describe('benchmark target ratios', () => {
  it('shows two decimals', () => {
    expect(formatRatio(0.8123, 0.85)).toBe('0.81');
    expect(formatRatio(1.456, 1.3)).toBe('1.46');
  });

  it('shows a third decimal for a miss that rounds up', () => {
    expect(formatRatio(0.7988, 0.8)).toBe('0.799');
  });

  it('keeps two decimals for a ratio that meets its target', () => {
    expect(formatRatio(0.8, 0.8)).toBe('0.80');
    expect(formatRatio(0.8012, 0.8)).toBe('0.80');
  });
});
