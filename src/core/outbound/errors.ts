/**
 * Typed failures of the outbound HTTP client.
 *
 * The `code` values are stable, so callers can branch on them and map them
 * to their own responses. Messages name the target host and the rule that
 * failed, and never contain the URL's userinfo, path or query, because those
 * may carry credentials or tokens.
 */

export const OUTBOUND_ERROR_CODES = [
  'OUTBOUND_INVALID_URL',
  'OUTBOUND_INVALID_HOST',
  'OUTBOUND_INVALID_REDIRECT',
  'OUTBOUND_BLOCKED_SCHEME',
  'OUTBOUND_BLOCKED_PORT',
  'OUTBOUND_BLOCKED_HOST',
  'OUTBOUND_BLOCKED_ADDRESS',
  'OUTBOUND_DNS_FAILED',
  'OUTBOUND_CONNECTION_FAILED',
  'OUTBOUND_TOO_MANY_REDIRECTS',
  'OUTBOUND_RESPONSE_TOO_LARGE',
  'OUTBOUND_TIMEOUT',
] as const;

export type OutboundErrorCode = (typeof OUTBOUND_ERROR_CODES)[number];

export interface OutboundErrorOptions {
  /** Host name of the URL that failed, without userinfo or port. */
  host?: string;
  /** Name of the rule that rejected the request, for example `loopback`. */
  rule?: string;
  cause?: unknown;
}

/** A rejected or failed outbound request, with a stable `code`. */
export class OutboundError extends Error {
  readonly code: OutboundErrorCode;
  readonly host: string | undefined;
  readonly rule: string | undefined;

  constructor(code: OutboundErrorCode, message: string, options: OutboundErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OutboundError';
    this.code = code;
    this.host = options.host;
    this.rule = options.rule;
  }
}
