/** A write that would break a uniqueness rule, naming the field at fault. */
export class DuplicateError extends Error {
  readonly field: string;

  constructor(field: string) {
    super(`${field} is already taken`);
    this.name = 'DuplicateError';
    this.field = field;
  }
}

/**
 * Returns the column named in a SQLite or PostgreSQL unique-constraint
 * violation, or undefined when `error` is something else.
 */
export function uniqueViolationColumn(error: unknown): string | undefined {
  if (!(error instanceof Error)) {
    return undefined;
  }

  const code = (error as { code?: unknown }).code;
  if (code !== 'SQLITE_CONSTRAINT_UNIQUE' && code !== 'SQLITE_CONSTRAINT_PRIMARYKEY' && code !== '23505') {
    return undefined;
  }

  // SQLite names the column in the message (`UNIQUE constraint failed:
  // accounts.email`), PostgreSQL in the detail (`Key (email)=(…) already exists.`).
  const detail = (error as { detail?: unknown }).detail;
  const match = /\.(\w+)(?:,|$)/.exec(error.message) ?? (typeof detail === 'string' ? /\((\w+)\)=/.exec(detail) : null);
  return match?.[1] ?? 'value';
}
