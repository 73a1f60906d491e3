/**
 * Problems for the 4xx errors that libraries raise: Fastify 5 and its
 * body parsers, Express's body-parser 2 and raw-body, and anything else
 * that sets a 4xx `statusCode` or `status`, as http-errors does.
 *
 * Such an error is the caller's fault, so it keeps its status and gets the
 * problem code of that status, never a 500. The library's own message stays
 * out of the detail, because it may quote internals.
 */

import { PROBLEMS, ProblemError, type ProblemCode } from './problem.js';

/** The problem code of each 4xx status that has one; the narrower codes of a status are left to the checks that raise them. */
const CODES_BY_STATUS: ReadonlyMap<number, ProblemCode> = new Map<number, ProblemCode>([
  [400, 'invalid_request'],
  [401, 'unauthorized'],
  [403, 'forbidden'],
  [404, 'not_found'],
  [405, 'method_not_allowed'],
  [406, 'not_acceptable'],
  [408, 'request_timeout'],
  [409, 'conflict'],
  [410, 'gone'],
  [411, 'length_required'],
  [412, 'precondition_failed'],
  [413, 'payload_too_large'],
  [414, 'uri_too_long'],
  [415, 'unsupported_media_type'],
  [416, 'range_not_satisfiable'],
  [422, 'unprocessable_content'],
  [429, 'rate_limited'],
  [431, 'headers_too_large'],
]);

const JSON_DETAIL = 'The request body is not valid JSON.';
const CONTENT_LENGTH_DETAIL = 'The Content-Length header does not match the body.';
const TOO_LARGE_DETAIL = 'The request body is larger than the server accepts.';
const URL_DETAIL = 'The request URL is malformed.';

/** Problems for the error codes of Fastify 5, by `code`. */
const FASTIFY_PROBLEMS: Readonly<Record<string, () => ProblemError>> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () => new ProblemError('unsupported_media_type', 'The Content-Type of the request body is not accepted here; send application/json.'),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => new ProblemError('invalid_request', CONTENT_LENGTH_DETAIL),
  FST_ERR_CTP_BODY_TOO_LARGE: () => new ProblemError('payload_too_large', TOO_LARGE_DETAIL),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => new ProblemError('invalid_json', 'The request body is empty but its Content-Type is application/json.'),
  FST_ERR_BAD_URL: () => new ProblemError('invalid_request', URL_DETAIL),
  FST_ERR_INVALID_URL: () => new ProblemError('invalid_request', URL_DETAIL),
  FST_ERR_MAX_PARAM_LENGTH: () => new ProblemError('uri_too_long', 'A path segment of the request is too long.'),
  FST_ERR_ROUTE_MISSING_CONTENT_TYPE: () => new ProblemError('invalid_request', 'The request has no Content-Type header.'),
  FST_ERR_ROUTE_MISSING_CONTENT: () => new ProblemError('invalid_request', 'The request has no body.'),
  FST_ERR_ASYNC_CONSTRAINT: () => new ProblemError('invalid_request', 'The request could not be routed.'),
};

/** Problems for the error types of body-parser 2 and raw-body, by `type`. */
const BODY_PARSER_PROBLEMS: Readonly<Record<string, () => ProblemError>> = {
  'entity.parse.failed': () => new ProblemError('invalid_json', JSON_DETAIL),
  'entity.too.large': () => new ProblemError('payload_too_large', TOO_LARGE_DETAIL),
  'request.size.invalid': () => new ProblemError('invalid_request', CONTENT_LENGTH_DETAIL),
  'request.aborted': () => new ProblemError('invalid_request', 'The request ended before its body was complete.'),
  'encoding.unsupported': () => new ProblemError('unsupported_media_type', 'The Content-Encoding of the request body is not supported.'),
  'charset.unsupported': () => new ProblemError('unsupported_media_type', 'The charset of the request body is not supported.'),
  'parameters.too.many': () => new ProblemError('payload_too_large', 'The request body has more parameters than the server accepts.'),
  'entity.verify.failed': () => new ProblemError('forbidden', 'The request body failed verification.'),
};

function jsonErrorDetail(message: string): string {
  // secure-json-parse, Fastify's JSON parser, names the prototype keys it rejects.
  return /prototype|constructor/i.test(message) ? 'The request body contains a forbidden key (__proto__ or constructor.prototype).' : JSON_DETAIL;
}

/** Returns the 4xx status that `error` carries in `statusCode` or `status`, or undefined. */
export function clientErrorStatus(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) {
    return undefined;
  }

  const { statusCode, status } = error as { statusCode?: unknown; status?: unknown };
  const value = typeof statusCode === 'number' ? statusCode : status;
  return typeof value === 'number' && Number.isInteger(value) && value >= 400 && value <= 499 ? value : undefined;
}

/**
 * Returns the problem for a library's client error: by its Fastify `code`
 * or body-parser `type` where one is known, else by its 4xx status.
 * Returns undefined for an error that carries no 4xx status.
 *
 * NOTE: a 4xx status without a problem code of its own (402, 418, 451 and
 * other rare ones) becomes 400 `invalid_request`.
 */
export function clientErrorProblem(error: unknown): ProblemError | undefined {
  const { code, type, message } = (typeof error === 'object' && error !== null ? error : {}) as { code?: unknown; type?: unknown; message?: unknown };

  if (code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return new ProblemError('invalid_json', jsonErrorDetail(String(message)));
  }
  const known = (typeof code === 'string' && Object.hasOwn(FASTIFY_PROBLEMS, code) ? FASTIFY_PROBLEMS[code] : undefined) ??
    (typeof type === 'string' && Object.hasOwn(BODY_PARSER_PROBLEMS, type) ? BODY_PARSER_PROBLEMS[type] : undefined);
  if (known !== undefined) {
    return known();
  }

  const status = clientErrorStatus(error);
  if (status === undefined) {
    return undefined;
  }
  // Fastify's JSON parser raises a SyntaxError with statusCode 400.
  if (error instanceof SyntaxError && status === 400) {
    return new ProblemError('invalid_json', jsonErrorDetail(error.message));
  }

  const problemCode = CODES_BY_STATUS.get(status) ?? 'invalid_request';
  return new ProblemError(problemCode, `The request was rejected with status ${status} (${PROBLEMS[problemCode].title}).`);
}
