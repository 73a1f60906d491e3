import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';

import { IDENTITY_ASSERTION_HEADER, type IdentityAssertionSigner } from '../core/identity-assertion.js';
import { IDENTITY_HEADERS, identityHeaders, isIdentityHeader, type Identity } from '../core/identity-headers.js';
import { StringMemo } from '../core/cache/string-memo.js';
import { ProblemError } from '../core/problem.js';
import { SOFTWARE_BANNER_HEADERS, securityHeaders } from '../core/security-headers.js';
import { sendProblem } from '../http/problems.js';
import { isPromise } from '../core/pending.js';
import { startUpstreamTimer } from '../metrics/http-hooks.js';
import { CallerLeftError, cancelWhenCallerLeaves } from './caller-connection.js';
import { relayUpstreamResponse, type ResponseCheckOptions } from './response-check.js';
import type { RoutePolicy } from './route-policy.js';
import { isUpstreamTimeout, upstreamFailure } from './upstream-client.js';
import { UpstreamExchange } from './upstream-exchange.js';
import { emptyBody, type UpstreamResponse } from './upstream-response.js';

/** Headers that apply to one connection and not to the message, in requests and responses (RFC 9110 section 7.6.1). */
const HOP_BY_HOP_HEADERS = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

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
  ...HOP_BY_HOP_HEADERS,
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
const DROPPED_RESPONSE_HEADERS = new Set([...SOFTWARE_BANNER_HEADERS, 'set-cookie', 'x-request-id', ...Object.keys(securityHeaders({ https: true }))]);

/** Limits of the remembered decisions per header name, which repeat from request to request. */
const HEADER_NAME_MEMO = { maxEntries: 256, maxKeyLength: 64 };

const droppedRequestHeaders = new StringMemo((name) => {
  // Servers that map `_` to `-` (CGI-style) would read x_portcullis_roles as an identity header.
  const normalized = name.toLowerCase().replaceAll('_', '-');
  return DROPPED_REQUEST_HEADERS.has(normalized) || isIdentityHeader(normalized);
}, HEADER_NAME_MEMO);

/** Upstream response headers that never reach the caller, whatever its Connection header lists. */
const droppedResponseHeaders = new StringMemo((name) => {
  const lower = name.toLowerCase();
  return DROPPED_RESPONSE_HEADERS.has(lower) || HOP_BY_HOP_HEADERS.has(lower) || lower.startsWith('access-control-');
}, HEADER_NAME_MEMO);

/**
 * Builds the upstream path from the route template and the decoded path
 * parameters, re-encoding each one. An encoded slash or dot segment in a
 * parameter then cannot make the upstream resolve a different route than the
 * one the gateway authorized.
 *
 * Returns undefined when a parameter cannot name a single path segment.
 */
export function upstreamPath(policy: RoutePolicy, params: Record<string, string>): string | undefined {
  if (!policy.path.includes(':')) {
    return policy.path;
  }

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
  /** The keep-alive connections to the upstream. */
  upstream: Dispatcher;
  /** Host and port of the upstream, sent as the Host header. */
  upstreamHost: string;
  /** Path prefix of the upstream base URL, without a trailing slash. */
  upstreamPrefix: string;
  /** Limits on the upstream response bodies, and the headers relayed with them. */
  responseCheck: ResponseCheckOptions;
  /** Signs the identity assertion that goes with each forwarded request, or undefined when the upstream takes none. */
  identitySigner: IdentityAssertionSigner | undefined;
}

/** The lowest and highest status codes that the gateway relays. Any other status means a broken upstream. */
const RELAYED_STATUS = { min: 200, max: 599 };

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

  // The assertion binds the exact request target the upstream receives.
  const target = `${options.upstreamPrefix}${path}${query}`;
  let assertion: string | undefined;
  if (identity !== undefined && options.identitySigner !== undefined) {
    const signed = options.identitySigner.sign(identity, { method: request.method, target, requestId: request.id });
    assertion = isPromise(signed) ? await signed : signed;
  }

  // The body goes on as the caller's bytes, never re-encoded.
  const body = Buffer.isBuffer(request.body) ? request.body : undefined;
  const headers = upstreamRequestHeaders(request, identity, assertion, { host: options.upstreamHost, body, checksResponse: policy.responses !== undefined });

  const upstreamResponded = startUpstreamTimer(request, policy.method, request.routeOptions.url ?? policy.path);
  // A caller that went away before the request was sent costs the upstream nothing.
  if (request.raw.socket.destroyed) {
    request.log.info('caller closed the connection before the upstream request was sent; request dropped');
    return reply;
  }

  const exchange = new UpstreamExchange();
  cancelWhenCallerLeaves(request.raw, reply.raw, exchange);
  let upstream: UpstreamResponse;
  try {
    upstream = await exchange.send(options.upstream, { path: target, method: request.method as Dispatcher.HttpMethod, headers, body: body ?? null });
  } catch (error) {
    if (error instanceof CallerLeftError) {
      request.log.info('caller closed the connection before the upstream responded; upstream request cancelled');
      return reply;
    }
    request.log.warn({ err: error, timedOut: isUpstreamTimeout(error) }, 'upstream request failed');
    return sendProblem(reply, upstreamFailure(error));
  }
  upstreamResponded();

  // A caller that went away gets nothing, and the upstream connection is freed.
  if (request.raw.socket.destroyed) {
    upstream.body.discard();
    return reply;
  }
  if (upstream.statusCode < RELAYED_STATUS.min || upstream.statusCode > RELAYED_STATUS.max) {
    upstream.body.discard();
    request.log.warn({ upstreamStatus: upstream.statusCode }, 'upstream status outside 200-599, answered with 502');
    return sendProblem(reply, new ProblemError('bad_gateway', 'The upstream service sent an invalid response.'));
  }

  reply.code(upstream.statusCode).headers(clientResponseHeaders(upstream.headers));
  // A 304 has no body even when its Content-Length repeats the 200's (RFC
  // 9110 section 8.6), which undici 7 reports as a length mismatch. With no
  // declared responses to check it against, it is relayed without its body.
  if (policy.responses === undefined && upstream.statusCode === 304) {
    upstream.body.discard();
    return reply.send(emptyBody(request.method));
  }

  relayUpstreamResponse(request, reply, upstream, policy.responses, options.responseCheck);
  return reply;
}

const NO_CONNECTION_OPTIONS: ReadonlySet<string> = new Set();

/** Returns the names that a Connection header lists, which apply to one connection only (RFC 9110 section 7.6.1). */
function connectionOptions(value: string | string[] | undefined): ReadonlySet<string> {
  // The usual values name no other header, so most requests skip the parsing.
  if (value === undefined || value === 'keep-alive' || value === 'close') {
    return NO_CONNECTION_OPTIONS;
  }

  const text = Array.isArray(value) ? value.join(',') : value;
  return new Set(text.split(',').map((name) => name.trim().toLowerCase()).filter((name) => name !== ''));
}

interface UpstreamRequestParts {
  /** Host and port of the upstream. */
  host: string;
  body: Buffer | undefined;
  /** True when the gateway reads the response to check it, so it must arrive uncompressed. */
  checksResponse: boolean;
}

function upstreamRequestHeaders(
  request: FastifyRequest,
  identity: Identity | undefined,
  assertion: string | undefined,
  parts: UpstreamRequestParts,
): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  const perConnection = connectionOptions(request.headers.connection);

  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined && !droppedRequestHeaders.get(name) && !perConnection.has(name)) {
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
  headers['host'] = parts.host;

  // Content-Length describes the forwarded body, so a length announced on a GET without a body is dropped.
  delete headers['content-length'];
  if (parts.body !== undefined) {
    headers['content-length'] = String(parts.body.length);
    // The upstream gets the media type that the gateway validated the body
    // as, even when the caller names Content-Type in its Connection header.
    headers['content-type'] = request.headers['content-type'] ?? 'application/octet-stream';
  }

  // A compressed body could not be parsed and checked.
  if (parts.checksResponse) {
    headers['accept-encoding'] = 'identity';
  }

  return headers;
}

/** A Vary list that names Origin or `*` as one of its members, in any case. */
const VARIES_BY_ORIGIN = /(?:^|,)\s*(?:origin|\*)\s*(?:,|$)/i;

/**
 * Adds Origin to an upstream's Vary value. The gateway's CORS headers depend
 * on the Origin of every request, and the upstream's Vary would otherwise
 * replace the gateway's `Vary: Origin`.
 */
function varyWithOrigin(value: string | string[]): string {
  const text = Array.isArray(value) ? value.join(', ') : value;
  if (VARIES_BY_ORIGIN.test(text)) {
    return text;
  }
  return text.trim() === '' ? 'Origin' : `${text}, Origin`;
}

/** Returns the upstream response headers that the caller receives. */
export function clientResponseHeaders(incoming: IncomingHttpHeaders): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = {};
  const perConnection = connectionOptions(incoming.connection);

  for (const [name, value] of Object.entries(incoming)) {
    if (droppedResponseHeaders.get(name) || value === undefined) {
      continue;
    }
    const lower = name.toLowerCase();
    if (perConnection.has(lower)) {
      continue;
    }
    headers[name] = lower === 'vary' ? varyWithOrigin(value) : value;
  }

  return headers;
}
