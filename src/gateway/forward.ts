import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingHttpHeaders } from 'node:http';

import { IDENTITY_ASSERTION_HEADER, type IdentityAssertionSigner } from '../core/identity-assertion.js';
import { IDENTITY_HEADERS, identityHeaders, isIdentityHeader, type Identity } from '../core/identity-headers.js';
import { ProblemError } from '../core/problem.js';
import { securityHeaders } from '../core/security-headers.js';
import { sendProblem } from '../http/problems.js';
import { startUpstreamTimer } from '../metrics/http-hooks.js';
import { relayCheckedResponse } from './response-check.js';
import type { RoutePolicy } from './route-policy.js';
import type { BodyLimits, UpstreamResponse } from './upstream-response.js';

/**
 * Request headers that never reach the upstream: credentials for Portcullis
 * itself, proxy hints the caller could forge, hop-by-hop headers (RFC 9110
 * section 7.6.1), and overrides that some frameworks honour to change the
 * method or path after the gateway authorized them.
 */
const DROPPED_REQUEST_HEADERS = new Set([
  'authorization',
  'x-api-key',
  'proxy-authorization',
  'cookie',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-real-ip',
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'x-original-url',
  'x-rewrite-url',
]);

/**
 * Response headers from the upstream that would reveal its stack, set
 * cookies on the origin that also serves the sign-in pages, or override
 * the gateway's security headers, CORS policy and request id (the one its
 * logs and problem documents carry).
 */
const DROPPED_RESPONSE_HEADERS = new Set(['x-powered-by', 'server', 'set-cookie', 'x-request-id', ...Object.keys(securityHeaders({ https: true }))]);

function isDroppedRequestHeader(name: string): boolean {
  // Servers that map `_` to `-` (CGI-style) would read x_portcullis_roles as an identity header.
  const normalized = name.toLowerCase().replaceAll('_', '-');
  return DROPPED_REQUEST_HEADERS.has(normalized) || isIdentityHeader(normalized);
}

/**
 * Builds the upstream path from the route template and the decoded path
 * parameters, re-encoding each one. An encoded slash or dot segment in a
 * parameter then cannot make the upstream resolve a different route than the
 * one the gateway authorized.
 *
 * Returns undefined when a parameter cannot name a single path segment.
 */
export function upstreamPath(policy: RoutePolicy, params: Record<string, string>): string | undefined {
  let invalid = false;

  const path = policy.path.replace(/:([A-Za-z0-9_]+)/g, (_match, name: string) => {
    const value = params[name] ?? '';
    if (value === '' || value === '.' || value === '..' || /[/\\\u0000-\u001f\u007f]/.test(value)) {
      invalid = true;
    }
    return encodeURIComponent(value);
  });

  return invalid ? undefined : path;
}

export interface ForwardOptions {
  /** Path prefix of the upstream base URL, without a trailing slash. */
  upstreamPrefix: string;
  /** Limits on the upstream response bodies that the gateway reads to check them. */
  responseLimits: BodyLimits;
  /** Signs the identity assertion that goes with each forwarded request; undefined when the upstream takes none. */
  identitySigner: IdentityAssertionSigner | undefined;
}

/**
 * Sends the authorized request to `path` on the upstream (from
 * upstreamPath) with identity headers and relays its response. A public
 * operation has no identity, and its upstream gets only the request id.
 */
export async function forward(
  request: FastifyRequest,
  reply: FastifyReply,
  identity: Identity | undefined,
  policy: RoutePolicy,
  path: string,
  options: ForwardOptions,
): Promise<FastifyReply> {

  const queryStart = request.url.indexOf('?');
  const query = queryStart === -1 ? '' : request.url.slice(queryStart);

  // The body goes on as the caller's bytes, never re-encoded.
  const body = request.body;
  const bodyOptions = Buffer.isBuffer(body)
    ? { body, contentType: request.headers['content-type'] ?? 'application/octet-stream' }
    : {};

  const { responses } = policy;
  const checkOptions = { ...options.responseLimits, relayedHeaders: clientResponseHeaders };

  // The assertion binds the exact request target the upstream receives.
  const target = `${options.upstreamPrefix}${path}${query}`;
  const signer = options.identitySigner;
  const assertion = identity === undefined || signer === undefined ? undefined : await signer.sign(identity, { method: request.method, target, requestId: request.id });

  const upstreamResponded = startUpstreamTimer(request, policy.method, request.routeOptions.url ?? policy.path);
  return reply.from(target, {
    ...bodyOptions,
    rewriteRequestHeaders: (_request, headers) => upstreamRequestHeaders(request, headers, identity, assertion, responses !== undefined),
    rewriteHeaders: (headers) => {
      upstreamResponded();
      return clientResponseHeaders(headers);
    },
    // reply-from 12 types `upstream` as a raw server response, but at run
    // time it is an object with statusCode, headers and the body stream.
    ...(responses === undefined
      ? {}
      : {
          onResponse: (_request, checkedReply, upstream) =>
            relayCheckedResponse(request, checkedReply as FastifyReply, upstream as unknown as UpstreamResponse, responses, checkOptions),
        }),
    onError: (failedReply, { error }) => {
      const code = (error as Error & { code?: string }).code ?? '';
      const timedOut = /timeout/i.test(code) || /timeout/i.test(error.message);
      request.log.warn({ err: error, timedOut }, 'upstream request failed');
      const problem = timedOut
        ? new ProblemError('gateway_timeout', 'The upstream service did not respond in time.')
        : new ProblemError('bad_gateway', 'The upstream service is unavailable.');
      sendProblem(failedReply as FastifyReply, problem);
    },
  });
}

function upstreamRequestHeaders(
  request: FastifyRequest,
  incoming: IncomingHttpHeaders,
  identity: Identity | undefined,
  assertion: string | undefined,
  checksResponse: boolean,
): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = {};

  for (const [name, value] of Object.entries(incoming)) {
    if (!isDroppedRequestHeader(name)) {
      headers[name] = value;
    }
  }

  Object.assign(headers, identity === undefined ? { [IDENTITY_HEADERS.requestId]: request.id } : identityHeaders(identity, request.id));
  if (assertion !== undefined) {
    headers[IDENTITY_ASSERTION_HEADER] = assertion;
  }
  headers['x-forwarded-for'] = request.ip;
  headers['x-forwarded-proto'] = request.protocol;
  if (request.headers.host !== undefined) {
    headers['x-forwarded-host'] = request.headers.host;
  }

  // A compressed body could not be parsed and checked.
  if (checksResponse) {
    headers['accept-encoding'] = 'identity';
  }

  return headers;
}

function clientResponseHeaders(incoming: IncomingHttpHeaders): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = {};

  for (const [name, value] of Object.entries(incoming)) {
    const lower = name.toLowerCase();
    if (!DROPPED_RESPONSE_HEADERS.has(lower) && !lower.startsWith('access-control-')) {
      headers[name] = value;
    }
  }

  return headers;
}
