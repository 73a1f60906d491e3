/**
 * The checks of a forwarded request between its rate limits and its
 * quotas: the upstream path, authorization, the query's separators and
 * escapes, method overrides, object-level bindings and validation against
 * the operation's declaration. Each one throws a ProblemError.
 */

import type { FastifyRequest } from 'fastify';

import { auditRequest } from '../audit/request-events.js';
import type { Identity } from '../core/identity-headers.js';
import { FORM_MEDIA_TYPE } from '../core/openapi/form-body.js';
import { isJsonMediaType, mayBeReadAsJson, mediaType, nonUtf8Charset, parseJsonBody, withIntegerNumbersOnly } from '../core/openapi/json-body.js';
import { isStrictlyPercentEncoded } from '../core/openapi/percent-encoding.js';
import { buildUpstreamPath } from '../core/openapi/route-path.js';
import { decodeUtf8 } from '../core/openapi/utf8.js';
import { ProblemError } from '../core/problem.js';
import { authorize } from './authorize.js';
import { bodyMemberNames } from './body-names.js';
import { rejectMethodOverride } from './method-override.js';
import { enforceBindings, type ObjectBinding } from './object-binding.js';
import type { RoutePolicy } from './route-policy.js';

/**
 * Rejects a query string with a literal `;`. The gateway reads only `&` as
 * a parameter separator, but some servers also split on `;` (Rack 2, and
 * Python's parse_qs before 3.9.2), so `?note=x;tenantId=t3&tenantId=t1`
 * would carry a value that the bindings and the query schema never saw.
 * Browsers and URLSearchParams send `;` in a value as `%3B`.
 */
function rejectQuerySemicolon(url: string): void {
  const queryStart = url.indexOf('?');
  if (queryStart !== -1 && url.includes(';', queryStart)) {
    throw new ProblemError('invalid_request', "The query string contains a literal ';', which some servers read as a parameter separator. Percent-encode it as %3B.");
  }
}

/**
 * Rejects a query string with a `%` that starts no valid escape, or with
 * escapes that are not UTF-8. Fastify's parser keeps such a name or value
 * undecoded. The schema would then check `q=%3Cb%3E%zz` as that text, but
 * Python's parse_qs and Node's querystring give the upstream `<b>%zz`. A
 * binding would not see `tenant%49d[%zz]` as its `tenantId`, which PHP reads.
 */
function rejectQueryEncoding(url: string): void {
  const queryStart = url.indexOf('?');
  if (queryStart !== -1 && !isStrictlyPercentEncoded(url.slice(queryStart + 1))) {
    throw new ProblemError(
      'invalid_request',
      "The query string has a '%' that does not start a valid escape, or escapes that are not UTF-8. Send '%' as %25 and other text as UTF-8 escapes.",
    );
  }
}

/**
 * Runs the checks between the rate limits and the quotas: the path,
 * authorization, object-level bindings and validation. `spellsSibling`
 * returns true when the path parameters spell the path of another
 * operation (see siblingPathCheck and foreignPathCheck).
 */
export function checkRequest(request: FastifyRequest, policy: RoutePolicy, spellsSibling: ((values: Readonly<Record<string, string>>) => boolean) | undefined): void {
  const params = request.params as Record<string, string>;
  request.upstreamPath = buildUpstreamPath(policy.route, params);
  if (request.upstreamPath === undefined) {
    throw new ProblemError('not_found', 'No resource matches the path parameter.');
  }
  if (spellsSibling?.(params) === true) {
    request.log.info({ route: policy.route.template }, 'path parameter spells the path of another operation, in another case, with a format suffix or under another mount path; rejected');
    throw new ProblemError('not_found', 'No resource matches the path parameter.');
  }
  const identity = request.identity;
  if (identity !== undefined) {
    authorize(identity, policy);
  }
  // Without a schema or a binding, the gateway decides nothing from the
  // query or the body, so an upstream may read them with whatever
  // separators, escapes and codings it likes.
  const checksContent = policy.validate !== undefined || policy.bindings.length > 0 || policy.bodyBindings.length > 0;
  if (checksContent) {
    rejectQuerySemicolon(request.url);
    rejectQueryEncoding(request.url);
  }
  rejectMethodOverride(request);
  if (checksContent) {
    rejectEncodedBody(request);
  }
  // Only an operation with bindings pays for reading the body's member names.
  const query = (request.query ?? {}) as Record<string, unknown>;
  if (identity !== undefined && policy.bindings.length > 0) {
    const bodyNames = bodyNamesOf(request);
    enforceBindings(policy.bindings, { params, query, bodyNames }, identity, bindingRejected(request, identity));
  }

  validateRequest(request, policy);

  // Body bindings come after validation, so that a malformed body gets its 400.
  if (identity !== undefined && policy.bodyBindings.length > 0) {
    enforceBindings(policy.bodyBindings, { params, query, body: boundBody(request) }, identity, bindingRejected(request, identity));
  }
}

/**
 * Returns the names of the body's top-level members that bindings on path
 * and query parameters compare with their own (see bodyMemberNames). The
 * names are read as UTF-8, so a form or JSON body whose Content-Type names
 * another charset gets 415. ASP.NET Core decodes a form in the charset its
 * Content-Type names and reads its fields before route values, so a
 * `userId` field written in UTF-16 would otherwise go unseen.
 */
function bodyNamesOf(request: FastifyRequest): string[] {
  const body = request.body;
  if (!Buffer.isBuffer(body) || body.length === 0) {
    return [];
  }

  const contentType = request.headers['content-type'];
  const charset = contentType === undefined ? undefined : nonUtf8Charset(contentType);
  if (charset !== undefined && (mediaType(contentType) === FORM_MEDIA_TYPE || mayBeReadAsJson(contentType))) {
    throw new ProblemError(
      'unsupported_media_type',
      `The charset of the request body must be utf-8, not '${charset}', because the operation checks parameters that some servers also read from the body.`,
    );
  }
  return bodyMemberNames(contentType, body);
}

/** Returns the callback that logs and audits a request that an object-level binding rejected. */
function bindingRejected(request: FastifyRequest, identity: Identity): (binding: ObjectBinding, detail: string) => void {
  return (binding, detail) => {
    request.log.info({ subject: identity.subject, parameter: binding.name, location: binding.in, claim: binding.claim }, 'object-level binding rejected the request');
    // The caller gets a 404 like any missing resource, which records no
    // event of its own, so the denial is recorded here.
    auditRequest(request, { type: 'authorization.denied', outcome: 'denied', reason: 'object_binding', detail });
  };
}

/**
 * Returns the parsed JSON body that body bindings read, or undefined for a
 * request without a body, which fails them. A body that is not JSON or not
 * UTF-8 gets 415, and one that is not valid JSON 400, also when the
 * operation's document declares no schema that validation would have
 * parsed it for.
 */
function boundBody(request: FastifyRequest): unknown {
  const body = Buffer.isBuffer(request.body) ? request.body : undefined;
  if (body === undefined || body.length === 0) {
    return undefined;
  }

  const contentType = request.headers['content-type'] ?? '';
  const type = mediaType(contentType);
  if (type === undefined || !isJsonMediaType(type)) {
    throw new ProblemError('unsupported_media_type', 'The request body must be JSON, because the operation checks a member of it against the caller.');
  }
  // Validation checks the charset only against a declared schema.
  const charset = nonUtf8Charset(contentType);
  if (charset !== undefined) {
    throw new ProblemError('unsupported_media_type', `The charset of a JSON body must be utf-8, not '${charset}'.`);
  }

  const parsed = parseJsonBody(body);
  if (!parsed.ok) {
    throw new ProblemError('invalid_json', parsed.detail);
  }

  // A binding takes a number only as an integer literal, so the others are read as null.
  const text = decodeUtf8(body) as string;
  const integral = withIntegerNumbersOnly(text);
  return integral === text ? parsed.value : JSON.parse(integral);
}

/**
 * Rejects a body sent with a content coding (RFC 9110 section 8.4) on an
 * operation whose body the gateway checks. Validation and bindings read the
 * bytes as they arrive, so an upstream that decodes the coding would read
 * other content than the gateway checked. RFC 7694 specifies 415 for such
 * a request.
 */
function rejectEncodedBody(request: FastifyRequest): void {
  const coding = request.headers['content-encoding'];
  if (coding === undefined || coding.trim().toLowerCase() === 'identity') {
    return;
  }
  if (!Buffer.isBuffer(request.body) || request.body.length === 0) {
    return;
  }

  throw new ProblemError('unsupported_media_type', 'The request body has a Content-Encoding, which the gateway cannot check. Send the body without a content coding.');
}

function validateRequest(request: FastifyRequest, policy: RoutePolicy): void {
  if (policy.validate === undefined) {
    return;
  }

  const body = Buffer.isBuffer(request.body) ? request.body : undefined;
  const found = policy.validate({
    params: request.params as Record<string, string>,
    query: (request.query ?? {}) as Record<string, unknown>,
    headers: request.headers,
    contentType: request.headers['content-type'],
    body,
  });
  if (found !== undefined) {
    throw new ProblemError(found.code, found.detail, found.errors === undefined ? {} : { errors: found.errors });
  }
}
