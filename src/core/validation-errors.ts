import { looksLikeCredential } from './credential-shapes.js';
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
 * audit trail. A name with the shape of an API key or an access token is
 * replaced, because a credential pasted as a JSON key would otherwise be
 * stored in full.
 */
function redactName(name: string): string {
  return looksLikeCredential(name) ? REDACTED : name;
}

/** Returns an ajv instance path (a JSON pointer) with each credential-shaped token replaced. */
function redactPointer(instancePath: string): string {
  return instancePath
    .split('/')
    .map((token) => (looksLikeCredential(token.replaceAll('~1', '/').replaceAll('~0', '~')) ? REDACTED : token))
    .join('/');
}

function describe(violation: SchemaViolation): { path: string; detail: string } {
  const { keyword, params } = violation;
  const instancePath = redactPointer(violation.instancePath);

  if (keyword === 'additionalProperties') {
    const property = redactName(String(params['additionalProperty']));
    return {
      path: `${instancePath}/${escapePointerToken(property)}`,
      detail: `unknown property '${property}' is not allowed`,
    };
  }

  if (keyword === 'required') {
    const property = redactName(String(params['missingProperty']));
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
