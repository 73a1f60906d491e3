import type { FieldError } from './problem.js';

/** The subset of an ajv ErrorObject that field errors are built from. */
export interface SchemaViolation {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string | undefined;
}

/** Escapes `~` and `/` in one JSON pointer token (RFC 6901 section 3). */
export function escapePointerToken(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}

function describe(violation: SchemaViolation): { path: string; detail: string } {
  const { keyword, instancePath, params } = violation;

  if (keyword === 'additionalProperties') {
    const property = String(params['additionalProperty']);
    return {
      path: `${instancePath}/${escapePointerToken(property)}`,
      detail: `unknown property '${property}' is not allowed`,
    };
  }

  if (keyword === 'required') {
    const property = String(params['missingProperty']);
    return {
      path: `${instancePath}/${escapePointerToken(property)}`,
      detail: `required property '${property}' is missing`,
    };
  }

  if (keyword === 'false schema') {
    return { path: instancePath, detail: 'property is read-only or not allowed in requests' };
  }

  return { path: instancePath, detail: violation.message ?? `must satisfy '${keyword}'` };
}

/**
 * Turns schema violations into field errors located by JSON pointers (RFC 6901).
 *
 * `location` is the part of the request the schema was applied to, for
 * example `body` or `query`, so `/body/quantity` names the body field.
 */
export function toFieldErrors(violations: readonly SchemaViolation[], location: string): FieldError[] {
  return violations.map((violation) => {
    const { path, detail } = describe(violation);
    return { pointer: `/${location}${path}`, detail };
  });
}
