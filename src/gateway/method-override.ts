/**
 * Method overrides that web frameworks read from the query string or body
 * of a POST rather than from a header. Rails (Rack::MethodOverride) reads a
 * `_method` field of a form or multipart body, and Laravel and Symfony also
 * read a `_method` query parameter. The `method-override` package for
 * Express is commonly set up to read `_method` from the query or the
 * parsed body, JSON included. The upstream then routes the
 * request as that method, although the gateway authorized a POST. The
 * gateway drops the override headers (X-HTTP-Method-Override and the
 * like) in forward.ts and rejects these spellings here.
 */

import type { FastifyRequest } from 'fastify';

import { mayBeReadAsJson, mediaType } from '../core/openapi/json-body.js';
import { phpSpelling } from '../core/openapi/parameter-names.js';
import { decodeUtf8 } from '../core/openapi/utf8.js';
import { ProblemError } from '../core/problem.js';
import { formFieldNames } from './body-names.js';

const OVERRIDE_FIELD = '_method';

/**
 * Tells whether a query, form or multipart field name is read as `_method`:
 * as written, or as PHP stores it in `$_GET` and `$_POST`, where Laravel and
 * Symfony read the override. PHP stores `.method`, ` _method` and `[method`
 * as `_method` too.
 */
function isOverrideName(name: string): boolean {
  return name.includes('method') && (name === OVERRIDE_FIELD || phpSpelling(name) === OVERRIDE_FIELD);
}

/** Tells whether a JSON body is an object with a `_method` member. A body that does not parse is left to the upstream. */
function jsonNamesOverride(body: Buffer): boolean {
  let value: unknown;
  try {
    // An upstream that drops a leading byte order mark reads the rest, as decodeUtf8 does.
    value = JSON.parse(decodeUtf8(body) ?? '');
  } catch {
    return false;
  }
  return value !== null && typeof value === 'object' && !Array.isArray(value) && Object.hasOwn(value, OVERRIDE_FIELD);
}

/** Tells whether a POST body has a `_method` field, in the body formats that frameworks read it from. */
function bodyNamesOverride(contentType: string | undefined, body: Buffer): boolean {
  // Most bodies do not contain the name at all, so they are never parsed.
  // Every spelling of the name contains `method`, except one with escapes
  // in a form body (`_%6Dethod`), so form bodies with an escape are parsed too.
  const type = mediaType(contentType);
  const mayNameOverride = body.includes('method') || (type === 'application/x-www-form-urlencoded' && body.includes('%'));
  if (mayNameOverride && formFieldNames(contentType, body).some(isOverrideName)) {
    return true;
  }

  if (mayBeReadAsJson(contentType)) {
    return (body.includes(OVERRIDE_FIELD) || body.includes('\\u')) && jsonNamesOverride(body);
  }
  return false;
}

/**
 * Rejects a POST whose query string, or whose form, multipart or JSON
 * body, has a `_method` field, with 400 `invalid_request`. Other methods pass, because
 * the frameworks above honour the override only on POST.
 */
export function rejectMethodOverride(request: FastifyRequest): void {
  if (request.method !== 'POST') {
    return;
  }

  const query = (request.query ?? {}) as Record<string, unknown>;
  const body = Buffer.isBuffer(request.body) ? request.body : undefined;
  if (Object.keys(query).some(isOverrideName) || (body !== undefined && bodyNamesOverride(request.headers['content-type'], body))) {
    throw new ProblemError(
      'invalid_request',
      `The request has a '${OVERRIDE_FIELD}' field, which some servers read as a method override. The gateway authorizes the request method only; send the request with the method it means.`,
    );
  }
}
