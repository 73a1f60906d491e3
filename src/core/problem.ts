/**
 * RFC 9457 problem details and the catalogue of stable problem codes.
 *
 * Every error that leaves Portcullis over HTTP (outside the OAuth endpoints,
 * which answer in the RFC 6749 error format that OAuth clients expect) is one
 * of these codes. The `type` URI and the `code` member never change once
 * published, so clients and documentation can rely on them.
 */

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

export interface ProblemKind {
  readonly status: number;
  readonly title: string;
}

export const PROBLEMS = {
  invalid_request: { status: 400, title: 'Invalid request' },
  invalid_json: { status: 400, title: 'Invalid JSON body' },
  validation_failed: { status: 400, title: 'Request validation failed' },
  unauthorized: { status: 401, title: 'Unauthorized' },
  insufficient_scope: { status: 403, title: 'Insufficient scope' },
  forbidden: { status: 403, title: 'Forbidden' },
  csrf_failed: { status: 403, title: 'Form expired or forged' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  not_acceptable: { status: 406, title: 'Not acceptable' },
  request_timeout: { status: 408, title: 'Request timeout' },
  conflict: { status: 409, title: 'Conflict' },
  gone: { status: 410, title: 'Gone' },
  length_required: { status: 411, title: 'Length required' },
  precondition_failed: { status: 412, title: 'Precondition failed' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  uri_too_long: { status: 414, title: 'URI too long' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  range_not_satisfiable: { status: 416, title: 'Range not satisfiable' },
  expectation_failed: { status: 417, title: 'Expectation failed' },
  target_not_allowed: { status: 422, title: 'Target not allowed' },
  unprocessable_content: { status: 422, title: 'Unprocessable content' },
  rate_limited: { status: 429, title: 'Too many requests' },
  quota_exceeded: { status: 429, title: 'Quota exceeded' },
  headers_too_large: { status: 431, title: 'Request header fields too large' },
  internal_error: { status: 500, title: 'Internal server error' },
  bad_gateway: { status: 502, title: 'Bad gateway' },
  service_unavailable: { status: 503, title: 'Service unavailable' },
  gateway_timeout: { status: 504, title: 'Gateway timeout' },
} as const satisfies Record<string, ProblemKind>;

export type ProblemCode = keyof typeof PROBLEMS;

/** One invalid field of a request, located by a JSON pointer (RFC 6901). */
export interface FieldError {
  readonly pointer: string;
  readonly detail: string;
}

/** The JSON body of a problem response. */
export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  code: ProblemCode;
  detail?: string;
  instance?: string;
  request_id?: string;
  errors?: FieldError[];
}

/** Builds the stable `type` URI of a problem code. */
export function problemType(code: ProblemCode): string {
  return `urn:portcullis:problem:${code.replaceAll('_', '-')}`;
}

export interface ProblemOptions {
  /** Extra response headers, for example `WWW-Authenticate` or `Allow`. */
  headers?: Record<string, string>;
  errors?: FieldError[];
  cause?: unknown;
  /**
   * Set when the failure behind the problem was logged where it happened,
   * at a bounded rate, so the error handler logs no error line per request.
   */
  alreadyLogged?: boolean;
}

/**
 * An error whose code, status and detail may be shown to the client.
 *
 * Anything thrown that is not a ProblemError becomes `internal_error`, and
 * its message stays in the server log.
 */
export class ProblemError extends Error {
  readonly code: ProblemCode;
  readonly status: number;
  readonly detail: string;
  readonly headers: Record<string, string>;
  readonly errors: FieldError[] | undefined;
  readonly alreadyLogged: boolean;

  constructor(code: ProblemCode, detail: string, options: ProblemOptions = {}) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ProblemError';
    this.code = code;
    this.status = PROBLEMS[code].status;
    this.detail = detail;
    this.headers = options.headers ?? {};
    this.errors = options.errors;
    this.alreadyLogged = options.alreadyLogged ?? false;
  }
}

/** Builds the problem document for an error that may be shown to the client. */
export function toProblemDocument(error: ProblemError, requestId?: string): ProblemDocument {
  const document: ProblemDocument = {
    type: problemType(error.code),
    title: PROBLEMS[error.code].title,
    status: error.status,
    code: error.code,
    detail: error.detail,
  };

  if (error.errors !== undefined && error.errors.length > 0) {
    document.errors = error.errors;
  }

  if (requestId !== undefined) {
    document.request_id = requestId;
  }

  return document;
}

/** Builds the problem document that stands in for an unexpected failure. */
export function internalErrorDocument(requestId?: string): ProblemDocument {
  const detail = 'The server failed to process the request. Quote the request_id when reporting it.';
  return toProblemDocument(new ProblemError('internal_error', detail), requestId);
}
