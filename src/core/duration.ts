const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Formats a count of seconds for messages: `1 second`, `30 seconds`. */
export function secondsText(seconds: number): string {
  return `${seconds} second${seconds === 1 ? '' : 's'}`;
}

/** Converts a duration such as `500ms`, `15m` or `1d` to milliseconds; throws on any other form. */
export function parseDuration(value: string): number {
  const match = /^([1-9][0-9]{0,8})(ms|s|m|h|d)$/.exec(value);
  const unit = match?.[2];
  if (match?.[1] === undefined || unit === undefined) {
    throw new Error(`'${value}' is not a duration such as 500ms, 30s, 15m, 1h or 1d`);
  }
  return Number(match[1]) * (UNIT_MS[unit] ?? 0);
}
