import { describe, expect, it } from 'vitest';

import { parseSince } from '../../src/cli/commands/audit.js';

const NOW = Date.UTC(2026, 1, 1, 12, 0, 0);

describe('audit --since', () => {
  it.each([
    ['a duration', '1h', NOW - 3_600_000],
    ['a date', '2026-01-31', Date.UTC(2026, 0, 31)],
    ['a leap day', '2028-02-29', Date.UTC(2028, 1, 29)],
    ['a UTC time', '2026-01-31T12:30:00Z', Date.UTC(2026, 0, 31, 12, 30)],
    ['milliseconds', '2026-01-31T12:30:00.250Z', Date.UTC(2026, 0, 31, 12, 30, 0, 250)],
    ['an offset', '2026-01-31T12:30+02:00', Date.UTC(2026, 0, 31, 10, 30)],
  ])('accepts %s', (_case, value, expected) => {
    expect(parseSince(value, NOW)).toBe(expected);
  });

  it.each([
    ['a day past the month end', '2026-02-30'],
    ['February 29 of a common year', '2026-02-29T00:00:00Z'],
    ['a day 31 in April', '2026-04-31'],
    ['month 13', '2026-13-01'],
    ['day 0', '2026-01-00'],
    ['text after the date', '2026-01-01 junk'],
    ['hour 25', '2026-01-01T25:00:00Z'],
    ['a word', 'yesterday'],
  ])('rejects %s', (_case, value) => {
    expect(() => parseSince(value, NOW)).toThrow(`--since must be a duration such as 15m, 1h or 7d, or an ISO 8601 time such as 2026-01-31T12:00:00Z, got '${value}'`);
  });
});
