import type { IncomingMessage } from 'node:http';
import { isIPv6 } from 'node:net';

import { ProblemError } from '../core/problem.js';

/** RFC 3986 reg-name: unreserved characters, sub-delims and percent-encodings. */
const REG_NAME = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+$/;
/** RFC 3986 IPvFuture, the other form of an IP-literal besides IPv6. */
const IP_FUTURE = /^v[0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+$/i;
const PORT = /^[0-9]*$/;

/** Counts the Host field lines, which `headers` folds into one because Node.js keeps only the first. */
function countHostLines(request: IncomingMessage): number {
  let count = 0;
  for (let index = 0; index < request.rawHeaders.length; index += 2) {
    const name = request.rawHeaders[index];
    // The length test spares the lower-casing of every other header name.
    if (name?.length === 4 && name.toLowerCase() === 'host') {
      count += 1;
    }
  }
  return count;
}

/**
 * Tells whether `value` matches `Host = uri-host [ ":" port ]` (RFC 9112
 * section 3.2). An empty uri-host, which the grammar allows, is rejected,
 * because RFC 9110 section 4.2.1 makes an http URI with an empty host
 * invalid.
 */
export function isValidHost(value: string): boolean {
  let host = value;
  let port = '';

  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    if (end === -1) {
      return false;
    }
    const literal = value.slice(1, end);
    // A zone id (fe80::1%eth0) is not part of the RFC 3986 IP-literal.
    if (!((isIPv6(literal) && !literal.includes('%')) || IP_FUTURE.test(literal))) {
      return false;
    }
    const rest = value.slice(end + 1);
    if (rest !== '' && !rest.startsWith(':')) {
      return false;
    }
    return PORT.test(rest.slice(1));
  }

  const colon = value.indexOf(':');
  if (colon !== -1) {
    host = value.slice(0, colon);
    port = value.slice(colon + 1);
  }
  return REG_NAME.test(host) && PORT.test(port);
}

/**
 * Returns the 400 problem that RFC 9112 section 3.2 requires for the Host
 * header of `request`, or undefined when the header is acceptable. HTTP/1.0
 * requests may omit Host, but not repeat it or send an invalid one.
 */
export function hostHeaderProblem(request: IncomingMessage): ProblemError | undefined {
  const lines = countHostLines(request);

  if (lines === 0) {
    if (request.httpVersionMajor === 1 && request.httpVersionMinor === 0) {
      return undefined;
    }
    return new ProblemError('invalid_request', 'The request has no Host header, which HTTP/1.1 requires.');
  }

  if (lines > 1) {
    return new ProblemError('invalid_request', `The request has ${lines} Host headers, but exactly one is allowed.`);
  }

  if (!isValidHost(request.headers.host ?? '')) {
    return new ProblemError(
      'invalid_request',
      "The Host header is invalid. Send a host name or IP address, optionally followed by ':' and a port.",
    );
  }

  return undefined;
}
