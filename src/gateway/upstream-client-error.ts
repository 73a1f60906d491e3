import { STATUS_CODES } from 'node:http';
import secureJson from 'secure-json-parse';

import { PROBLEM_CONTENT_TYPE } from '../core/problem.js';
import { decodeUpstreamText, isIdentityEncoding, readUpstreamBody, type BodyLimits, type UpstreamResponse } from './upstream-response.js';

/** Maximum length of a string member copied from an upstream problem document, in characters. */
const MAX_MEMBER_LENGTH = 1000;

/** Maximum number of `errors` entries copied from an upstream problem document. */
const MAX_FIELD_ERRORS = 100;

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function shortText(value: unknown): string | undefined {
  return typeof value === 'string' && value.length <= MAX_MEMBER_LENGTH ? value : undefined;
}

function fieldErrors(value: unknown): Array<{ pointer: string; detail: string }> | undefined {
  if (!Array.isArray(value)) {
    return undefined;
  }

  const errors = value.slice(0, MAX_FIELD_ERRORS).flatMap((entry) => {
    const pointer = isObject(entry) ? shortText(entry['pointer']) : undefined;
    const detail = isObject(entry) ? shortText(entry['detail']) : undefined;
    return pointer === undefined || detail === undefined ? [] : [{ pointer, detail }];
  });
  return errors.length > 0 ? errors : undefined;
}

/** Reads the upstream's problem document, or returns undefined when the body is anything else. */
async function readProblem(upstream: UpstreamResponse, limits: BodyLimits): Promise<JsonObject | undefined> {
  const type = String(upstream.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/problem+json' || !isIdentityEncoding(upstream.headers['content-encoding'])) {
    upstream.body.discard();
    return undefined;
  }

  try {
    const body = await readUpstreamBody(upstream, limits);
    const text = decodeUpstreamText(body, String(upstream.headers['content-type']));
    const parsed: unknown = secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
    return isObject(parsed) ? parsed : undefined;
  } catch {
    // A body that cannot be read or parsed is replaced like any other body.
    return undefined;
  }
}

/**
 * Builds the problem document that the gateway sends for an upstream client
 * error (4xx) that the API does not declare. The status stays; of the
 * upstream's problem document (RFC 9457) only `type`, `title`, `detail`,
 * `code` and `errors` are copied, as short strings. Any other body becomes
 * `about:blank` with the status's reason phrase, so an error page or a
 * stack trace never reaches the caller.
 */
export async function undeclaredClientError(
  upstream: UpstreamResponse,
  limits: BodyLimits,
  requestId: string,
): Promise<{ contentType: string; document: JsonObject }> {
  const status = upstream.statusCode;
  const source = (await readProblem(upstream, limits)) ?? {};

  const document: JsonObject = {
    type: shortText(source['type']) ?? 'about:blank',
    title: shortText(source['title']) ?? STATUS_CODES[status] ?? 'Client error',
    status,
  };

  for (const member of ['detail', 'code']) {
    const value = shortText(source[member]);
    if (value !== undefined) {
      document[member] = value;
    }
  }

  const errors = fieldErrors(source['errors']);
  if (errors !== undefined) {
    document['errors'] = errors;
  }

  document['request_id'] = requestId;
  return { contentType: PROBLEM_CONTENT_TYPE, document };
}
