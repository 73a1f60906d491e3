import { containsCredential } from './credential-shapes.js';
import { REDACTED } from './log-redaction.js';
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

/**
 * Returns a property name fit to repeat in a problem, a log line and the
 * audit trail. A name with the shape of an API key or an access token, or
 * containing one after other text, is replaced, because a credential
 * pasted as a JSON key would otherwise be stored in full.
 */
export function redactName(name: string): string {
  return containsCredential(name) ? REDACTED : name;
}

/** Returns an ajv instance path (a JSON pointer) with each credential-shaped token replaced. */
function redactPointer(instancePath: string): string {
  return instancePath
    .split('/')
    .map((token) => (containsCredential(token.replaceAll('~1', '/').replaceAll('~0', '~')) ? REDACTED : token))
    .join('/');
}

/** Maximum length of a property name or pointer quoted in human-readable text, in characters. */
const MAX_QUOTED_LENGTH = 64;

/** Shortens text that a request supplies, such as a property name, for quoting in a detail. */
export function shorten(text: string): string {
  return text.length > MAX_QUOTED_LENGTH ? `${text.slice(0, MAX_QUOTED_LENGTH)}…` : text;
}

function describe(violation: SchemaViolation): { path: string; detail: string } {
  const { keyword, params } = violation;
  const instancePath = redactPointer(violation.instancePath);

  if (keyword === 'additionalProperties') {
    const property = redactName(String(params['additionalProperty']));
    return {
      path: `${instancePath}/${escapePointerToken(property)}`,
      detail: `unknown property '${shorten(property)}' is not allowed`,
    };
  }

  if (keyword === 'required') {
    const property = redactName(String(params['missingProperty']));
    return {
      path: `${instancePath}/${escapePointerToken(property)}`,
      detail: `required property '${shorten(property)}' is missing`,
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

/**
 * Maximum number of field errors a validation problem lists. A body can break
 * its schema once per few bytes, and listing every violation would make the
 * problem document and its log line many times larger than the request.
 * Property names and pointers quoted in details are shortened for the same
 * reason.
 */
export const MAX_FIELD_ERRORS = 20;

/**
 * Builds the detail and field errors of a validation problem, listing at
 * most MAX_FIELD_ERRORS violations and counting the rest in the detail.
 */
export function describeViolations(violations: readonly SchemaViolation[], location: string): { detail: string; errors: FieldError[] } {
  const errors = toFieldErrors(violations.slice(0, MAX_FIELD_ERRORS), location);
  // Pointers stay exact in `errors` but are shortened in the detail, which is also logged.
  const summary = errors.map((field) => `${shorten(field.pointer)}: ${field.detail}`).join('; ');
  const omitted = violations.length - errors.length;
  const more = omitted > 0 ? `; and ${omitted} more` : '';
  return { detail: `The request is invalid: ${summary}${more}.`, errors };
}
