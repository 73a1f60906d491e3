import { ProblemError, type ProblemCode } from '../problem.js';
import { classifyAddress } from './address-classifier.js';
import type { OutboundError, OutboundErrorCode } from './errors.js';

interface OutboundProblem {
  readonly code: ProblemCode;
  readonly reason: string;
}

/**
 * Problem of a host name that does not resolve or resolves to an internal
 * address. Both cases share one status and detail, because Portcullis
 * resolves through the private network's DNS, and different responses would
 * tell a caller which internal names exist.
 */
const UNRESOLVED_OR_INTERNAL_NAME: OutboundProblem = {
  code: 'target_not_allowed',
  reason: 'names a host that does not resolve, or resolves to an internal address',
};

/**
 * Problem code and client-facing reason for each outbound failure. A target
 * the guard rejects, or a name that does not resolve, is the caller's fault
 * (400 or 422). Trouble on the way to an allowed target is the remote side's
 * (502 or 504).
 *
 * The reasons are fixed text rather than the OutboundError message, because
 * that message names the resolved address, and telling a caller which
 * internal address a name resolves to would help map the private network.
 */
const OUTBOUND_PROBLEMS: Readonly<Record<OutboundErrorCode, OutboundProblem>> = {
  OUTBOUND_INVALID_URL: { code: 'validation_failed', reason: 'must be an absolute URL without user name, password or IPv6 zone id' },
  OUTBOUND_INVALID_HOST: { code: 'validation_failed', reason: 'must name a host that is an IP address or a valid DNS name' },
  OUTBOUND_INVALID_REDIRECT: { code: 'bad_gateway', reason: 'redirected to an invalid URL' },
  OUTBOUND_BLOCKED_SCHEME: { code: 'target_not_allowed', reason: 'uses a scheme that is not allowed' },
  OUTBOUND_BLOCKED_PORT: { code: 'target_not_allowed', reason: 'uses a port that is not allowed' },
  OUTBOUND_BLOCKED_HOST: { code: 'target_not_allowed', reason: 'names a host that is not allowed' },
  OUTBOUND_BLOCKED_ADDRESS: { code: 'target_not_allowed', reason: 'names an internal address' },
  OUTBOUND_DNS_FAILED: UNRESOLVED_OR_INTERNAL_NAME,
  OUTBOUND_CONNECTION_FAILED: { code: 'bad_gateway', reason: 'could not be reached, or its response was cut off' },
  OUTBOUND_TOO_MANY_REDIRECTS: { code: 'bad_gateway', reason: 'redirected too many times' },
  OUTBOUND_RESPONSE_TOO_LARGE: { code: 'bad_gateway', reason: 'returned a response that is too large' },
  OUTBOUND_TIMEOUT: { code: 'gateway_timeout', reason: 'did not answer in time' },
};

/**
 * Converts an outbound failure for the URL found at `pointer` in the request
 * (a JSON pointer such as `/body/url`) into the problem to send the client.
 */
export function outboundProblem(error: OutboundError, pointer: string): ProblemError {
  const { code, reason } = problemOf(error);
  const host = error.host === undefined || error.host === '' ? '' : ` (host ${error.host})`;
  const detail = `The URL at ${pointer}${host} ${reason}.`;

  if (code === 'validation_failed') {
    return new ProblemError(code, `The request is invalid: ${pointer}: ${reason}.`, { errors: [{ pointer, detail: reason }], cause: error });
  }

  return new ProblemError(code, detail, { cause: error });
}

/** Looks up the problem of `error`. A blocked address whose host is a name came from DNS. */
function problemOf(error: OutboundError): OutboundProblem {
  const hostIsName = error.host !== undefined && classifyAddress(error.host) === undefined;
  if (error.code === 'OUTBOUND_BLOCKED_ADDRESS' && hostIsName) {
    return UNRESOLVED_OR_INTERNAL_NAME;
  }
  return OUTBOUND_PROBLEMS[error.code];
}
