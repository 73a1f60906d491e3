import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Dispatcher } from 'undici';

import { IDENTITY_ASSERTION_HEADER, type IdentityAssertionSigner } from '../core/identity-assertion.js';
import { IDENTITY_HEADER_PREFIX, IDENTITY_HEADERS, identityHeaders, isIdentityHeader, type Identity } from '../core/identity-headers.js';
import { StringMemo } from '../core/cache/string-memo.js';
import { ProblemError } from '../core/problem.js';
import { sendProblem } from '../http/problems.js';
import { isPromise, type Pending } from '../core/pending.js';
import { startUpstreamTimer } from '../metrics/http-hooks.js';
import { CallerLeftError, ResponseSentError, cancelWhenCallerLeaves } from './caller-connection.js';
import { hasPunctuation, headerPatternMatcher, normalizedHeaderName } from './header-patterns.js';
import { relayUpstreamResponse, type ResponseCheckOptions } from './response-check.js';
import { HEADER_NAME_MEMO, HOP_BY_HOP_HEADERS, connectionOptions, relayResponseHeaders } from './relayed-headers.js';
import type { RoutePolicy } from './route-policy.js';
import { isUpstreamTimeout, upstreamFailure } from './upstream-client.js';
import { UpstreamExchange, type QueuedSend, type UpstreamRequest } from './upstream-exchange.js';
import { ConnectionWaitTimeout, upstreamBusy, type UpstreamLoad } from './upstream-load.js';
import { isRetriable } from './upstream-retry.js';
import type { UpstreamLinkRewriter } from './upstream-links.js';
import { emptyBody, type UpstreamResponse } from './upstream-response.js';

/** A group of request headers that never reach the upstream from the caller, with the reason. */
interface DroppedHeaderGroup {
  /** The reason, as a clause after "because" that start-up errors show. */
  reason: string;
  /** Header names, lower case. */
  names: readonly string[];
  /** Prefixes of header families, lower case. */
  prefixes: readonly string[];
}

/**
 * Request headers that never reach the upstream: credentials for Portcullis
 * itself, proxy hints of the client's address, host, scheme or identity
 * that the caller could forge, hop-by-hop headers (RFC 9110
 * section 7.6.1), overrides that some frameworks honour to change the
 * method or path after the gateway authorized them, and headers that steer
 * a proxy behind the gateway. The gateway's identity headers are dropped
 * too (see isIdentityHeader).
 */
const DROPPED_REQUEST_HEADER_GROUPS: readonly DroppedHeaderGroup[] = [
  {
    reason: "it carries the caller's credentials for the gateway itself",
    names: ['authorization', 'x-api-key', 'proxy-authorization', 'cookie'],
    prefixes: [],
  },
  {
    reason: "proxies in front of a service use it to pass on the client's address, host or scheme, which a caller could forge",
    names: [
      'forwarded',
      'x-real-ip',
      'x-client-ip',
      'client-ip',
      'true-client-ip',
      'cf-connecting-ip',
      'fastly-client-ip',
      'x-cluster-client-ip',
      'x-original-forwarded-for',
      'x-original-host',
      'x-host',
      'front-end-https',
      'x-url-scheme',
      // The scheme as ingress-nginx passes it on. Tornado with xheaders and
      // other servers take it for the request's scheme, as X-Forwarded-Proto.
      'x-scheme',
    ],
    // For, Host, Proto, Port, Prefix, User, Email and others. The gateway
    // writes its own For, Host and Proto.
    prefixes: ['x-forwarded-'],
  },
  {
    reason: "proxies in front of a service use it to pass on the caller's identity, client certificate or address, which a caller could forge",
    names: [
      // The caller's identity as TLS-terminating and sign-in proxies pass it
      // on: client certificates (RFC 9440 and older X-SSL-* forms) and user
      // names. The gateway carries identity in its own headers only, so none of
      // these can come from it.
      'client-cert',
      'client-cert-chain',
      'x-client-cert',
      'x-ssl-client-cert',
      'x-ssl-client-verify',
      'x-ssl-client-s-dn',
      'x-ssl-client-i-dn',
      'remote-user',
      'x-remote-user',
      'x-authenticated-user',
      'x-auth-request-user',
      'x-auth-request-email',
      'x-auth-request-preferred-username',
      'x-auth-request-groups',
      'x-auth-request-access-token',
      // The caller's identity as API gateways in front of a service pass it on:
      // Kong's consumer and OpenID Connect headers, Google Cloud Endpoints and
      // API Gateway, and WSO2 API Manager.
      'x-credential-identifier',
      'x-anonymous-consumer',
      'x-userinfo',
      'x-endpoint-api-userinfo',
      'x-apigateway-api-userinfo',
      'x-jwt-assertion',
      // IIS Application Request Routing's client certificate.
      'x-arr-clientcert',
    ],
    prefixes: [
      // The user, groups and extra attributes of the Kubernetes
      // authenticating proxy, and the client address in some servers.
      'x-remote-',
      // The user and groups that the Kubernetes API server acts as.
      'impersonate-',
      // The user, email, name and role of Grafana's auth proxy.
      'x-webauth-',
      // Google Identity-Aware Proxy.
      'x-goog-authenticated-user-',
      'x-goog-iap-',
      // Azure App Service authentication.
      'x-ms-client-principal',
      'x-ms-token-',
      // AWS Application Load Balancer sign-in and mutual TLS.
      'x-amzn-oidc-',
      'x-amzn-mtls-',
      // Cloudflare Access.
      'cf-access-',
      // Kong's consumer and the user, groups and scope that its plugins verified.
      'x-consumer-',
      'x-authenticated-',
      // oauth2-proxy.
      'x-auth-request-',
      // Client certificates that TLS-terminating proxies pass on.
      'x-ssl-client-',
      'x-client-cert',
    ],
  },
  {
    reason: "it applies only to the caller's connection to the gateway (RFC 9110 section 7.6.1)",
    names: [...HOP_BY_HOP_HEADERS],
    prefixes: [],
  },
  {
    reason: 'the gateway answers Expect: 100-continue itself and sends the upstream the whole body',
    names: ['expect'],
    prefixes: [],
  },
  {
    reason: 'some frameworks take it to change the method or path after the gateway authorized the request',
    names: ['x-http-method-override', 'x-http-method', 'x-method-override', 'x-original-method', 'x-original-url', 'x-original-uri', 'x-rewrite-url'],
    prefixes: [],
  },
  {
    reason: "an Envoy behind the gateway may take it to change its timeouts, its retries or the request's original path",
    names: [],
    // Envoy's own headers. Envoy removes them only from requests it classes
    // as external and honours them on internal ones, which can include the
    // gateway's. A caller could otherwise set the timeouts
    // (`x-envoy-upstream-rq-timeout-ms`) and retries (`x-envoy-retry-on`,
    // `x-envoy-max-retries`) of an Envoy behind the gateway, or the path
    // before Envoy rewrote it (`x-envoy-original-path`), which services read
    // to build links.
    prefixes: ['x-envoy-'],
  },
];

const IDENTITY_HEADER_REASON = `it is one of the identity headers (${IDENTITY_HEADER_PREFIX}*) that the gateway writes itself`;

const DROPPED_REQUEST_HEADERS: ReadonlyMap<string, string> = new Map(
  DROPPED_REQUEST_HEADER_GROUPS.flatMap((group) => group.names.map((name) => [name, group.reason] as const)),
);

const DROPPED_REQUEST_HEADER_PREFIXES: ReadonlyArray<readonly [prefix: string, reason: string]> = DROPPED_REQUEST_HEADER_GROUPS.flatMap(
  (group) => group.prefixes.map((prefix) => [prefix, group.reason] as const),
);

/**
 * Returns why the gateway drops a caller's request header whatever the
 * upstream configures, or undefined when it forwards the header. The name
 * is compared as normalizedHeaderName spells it.
 */
export function gatewayDropReason(name: string): string | undefined {
  const normalized = normalizedHeaderName(name);
  const named = DROPPED_REQUEST_HEADERS.get(normalized);
  if (named !== undefined) {
    return named;
  }

  const family = DROPPED_REQUEST_HEADER_PREFIXES.find(([prefix]) => normalized.startsWith(prefix));
  if (family !== undefined) {
    return family[1];
  }
  return isIdentityHeader(normalized) ? IDENTITY_HEADER_REASON : undefined;
}

/**
 * Builds the decision, per request header name, whether a caller's header
 * stays away from the upstream. The gateway's own lists decide first
 * (gatewayDropReason), then `extra`, which contains the names and `prefix*`
 * patterns that an upstream's `dropRequestHeaders` adds for headers the
 * service trusts, such as `x-user-id`.
 */
export function requestHeaderFilter(extra: readonly string[] = []): StringMemo<boolean> {
  const listedEntry = headerPatternMatcher(extra);

  return new StringMemo((name) => gatewayDropReason(name) !== undefined || listedEntry(name) !== undefined, HEADER_NAME_MEMO);
}

export interface ForwardOptions {
  /** The keep-alive connections to the upstream. */
  upstream: Dispatcher;
  /** The count of requests under way to `upstream`, which bounds those that wait for a connection. */
  upstreamLoad: UpstreamLoad;
  /** Time for a request to get its final response headers, any wait for a connection included, in milliseconds: the upstream timeout. */
  upstreamTimeoutMs: number;
  /** Host and port of the upstream, sent as the Host header. */
  upstreamHost: string;
  /** Path prefix of the upstream base URL, without a trailing slash. */
  upstreamPrefix: string;
  /** Host and port of the public URL, sent as X-Forwarded-Host, whatever Host the caller sent. */
  forwardedHost: string;
  /** Scheme of the public URL, sent as X-Forwarded-Proto. */
  forwardedProto: string;
  /** Limits on the upstream response bodies, and the headers relayed with them. */
  responseCheck: ResponseCheckOptions;
  /** Rewrites the upstream's own URLs in Location, Content-Location, Refresh and Link into public ones. */
  links: UpstreamLinkRewriter;
  /** Signs the identity assertion that goes with each forwarded request, or undefined when the upstream takes none. */
  identitySigner: IdentityAssertionSigner | undefined;
  /** The upstream's name in the configuration, which binds each identity assertion to this upstream. */
  upstreamName: string;
  /** Tells, per name, whether a caller's request header is dropped (see requestHeaderFilter). */
  droppedRequestHeaders: StringMemo<boolean>;
}

/** The status of a range response (RFC 9110 section 15.3.7). */
const PARTIAL_CONTENT = 206;

/** The lowest and highest status codes that the gateway relays. Any other status means a broken upstream. */
const RELAYED_STATUS = { min: 200, max: 599 };

/**
 * Sends the authorized request to `path` on the upstream (built by
 * buildUpstreamPath) with identity headers and relays its response. A public
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
  const signed = signAssertion(request, identity, target, options, 1);
  const assertion = isPromise(signed) ? await signed : signed;

  // The body goes on as the caller's bytes, never re-encoded.
  const body = Buffer.isBuffer(request.body) ? request.body : undefined;
  const headers = upstreamRequestHeaders(request, identity, assertion, options, {
    body,
    checksResponse: policy.responses !== undefined,
    forwardsRanges: policy.responses === undefined || policy.responses.declaresStatus(PARTIAL_CONTENT),
    headerParameters: policy.headerParameters,
  });

  const upstreamResponded = startUpstreamTimer(request, policy.method, request.routeOptions.url ?? policy.path);
  // A caller that went away before the request was sent costs the upstream nothing.
  if (request.raw.socket.destroyed) {
    request.log.info('caller closed the connection before the upstream request was sent; request dropped');
    return reply;
  }
  if (reply.sent) {
    request.log.info('response sent before the upstream request was sent; request dropped');
    return reply;
  }

  // An idempotent request whose kept-alive connection the upstream closed
  // before responding is sent once more, on another connection.
  const upstreamRequest: UpstreamRequest = { path: target, method: request.method as Dispatcher.HttpMethod, headers, body: body ?? null };
  // Both attempts share one deadline, so that a request sent twice waits no
  // longer for its headers than one sent once.
  const headersDeadline = Date.now() + options.upstreamTimeoutMs;
  let upstream: UpstreamResponse;
  try {
    upstream = await sendOnce(request, reply, options, upstreamRequest, { headersDeadline, timed: false });
  } catch (error) {
    if (!isRetriable(upstreamRequest.method, error) || request.raw.socket.destroyed || Date.now() >= headersDeadline) {
      return respondToUpstreamFailure(request, reply, options, error);
    }

    request.log.info({ err: error }, 'upstream connection closed before the response; request sent again on another connection');
    // The upstream may have verified the first assertion before the
    // connection closed, and it accepts each jti once.
    const retryAssertion = await signAssertion(request, identity, target, options, 2);
    let retryRequest = upstreamRequest;
    if (retryAssertion !== undefined) {
      retryRequest = { ...upstreamRequest, headers: { ...headers, [IDENTITY_ASSERTION_HEADER]: retryAssertion } };
    }

    try {
      upstream = await sendOnce(request, reply, options, retryRequest, { headersDeadline, timed: true });
    } catch (retryError) {
      return respondToUpstreamFailure(request, reply, options, retryError);
    }
  }
  upstreamResponded();

  return relayResponse(request, reply, policy, options, upstream);
}

/**
 * Signs the identity assertion for one attempt to send the request upstream,
 * or returns undefined for a public operation or an upstream that takes no
 * assertion. Each attempt gets its own `jti` (see assertionId).
 */
function signAssertion(
  request: FastifyRequest,
  identity: Identity | undefined,
  target: string,
  options: Pick<ForwardOptions, 'identitySigner' | 'upstreamName'>,
  attempt: number,
): Pending<string> | undefined {
  const signer = options.identitySigner;
  if (identity === undefined || signer === undefined) {
    return undefined;
  }
  return signer.sign(identity, { method: request.method, target, requestId: request.id, attempt, upstream: options.upstreamName });
}

/** Relays the upstream's status, headers and body to the caller, or sends 502 for a status outside 200-599. */
function relayResponse(request: FastifyRequest, reply: FastifyReply, policy: RoutePolicy, options: ForwardOptions, upstream: UpstreamResponse): FastifyReply {
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

  reply.code(upstream.statusCode);
  relayResponseHeaders(reply, upstream.headers, options.links);
  // A 304 has no body even when its Content-Length repeats the 200's (RFC
  // 9110 section 8.6), which undici 7 reports as a length mismatch. It is
  // relayed without its body when no declared responses apply, or when it
  // responds to a conditional read, since it carries no content to check.
  if (upstream.statusCode === 304 && (policy.responses === undefined || isConditionalRead(request))) {
    upstream.body.discard();
    return reply.send(emptyBody(request.method));
  }

  relayUpstreamResponse(request, reply, upstream, policy.responses, options.responseCheck);
  return reply;
}

/**
 * Sends the request to the upstream through the pool and resolves with the
 * response head, which must arrive by `headersDeadline`. Throws the 503
 * problem, without sending, when the queue for connections is full.
 */
function sendOnce(
  request: FastifyRequest,
  reply: FastifyReply,
  options: ForwardOptions,
  upstreamRequest: UpstreamRequest,
  timing: Pick<QueuedSend, 'headersDeadline' | 'timed'>,
): Promise<UpstreamResponse> {
  if (options.upstreamLoad.full) {
    throw upstreamBusy();
  }

  const exchange = new UpstreamExchange();
  cancelWhenCallerLeaves(request.raw, reply.raw, exchange);
  return exchange.send(options.upstream, upstreamRequest, {
    load: options.upstreamLoad,
    caller: request.raw,
    headersDeadline: timing.headersDeadline,
    timed: timing.timed,
  });
}

/** Responds to a request whose upstream exchange failed before the response headers arrived. */
function respondToUpstreamFailure(request: FastifyRequest, reply: FastifyReply, options: ForwardOptions, error: unknown): FastifyReply {
  if (error instanceof CallerLeftError) {
    request.log.info('caller closed the connection before the upstream responded; upstream request cancelled');
    return reply;
  }
  if (error instanceof ResponseSentError) {
    request.log.info('response sent before the upstream responded; upstream request cancelled');
    return reply;
  }
  if (error instanceof ProblemError) {
    request.log.warn({ underWay: options.upstreamLoad.underWay }, 'every upstream connection busy and the queue full; answered with 503');
    return sendProblem(reply, error);
  }
  if (error instanceof ConnectionWaitTimeout) {
    request.log.warn({ underWay: options.upstreamLoad.underWay }, 'no upstream connection free within the upstream timeout; answered with 503');
    return sendProblem(reply, upstreamBusy());
  }

  request.log.warn({ err: error, timedOut: isUpstreamTimeout(error) }, 'upstream request failed');
  return sendProblem(reply, upstreamFailure(error));
}

/** Returns whether a method is GET or HEAD, the only ones a 304 may respond to (RFC 9110 section 15.4.5). */
function isSafeRead(method: string): boolean {
  return method === 'GET' || method === 'HEAD';
}

/** Returns whether a request is a GET or HEAD with a validator. */
function isConditionalRead(request: FastifyRequest): boolean {
  if (!isSafeRead(request.method)) {
    return false;
  }
  return request.headers['if-none-match'] !== undefined || request.headers['if-modified-since'] !== undefined;
}

/**
 * Returns the X-Forwarded-For value for the upstream: the addresses that
 * trusted proxies added, from the client's on, then the address of the
 * connection's peer. Addresses that an untrusted party wrote are left out.
 */
function forwardedFor(request: FastifyRequest): string {
  // Fastify sets `ips` only when trusted proxies are configured. It lists the
  // peer first and ends with the client's address, the first untrusted one.
  const chain = request.ips;
  if (chain === undefined || chain.length <= 1) {
    return request.ip;
  }
  return chain.toReversed().join(', ');
}

interface UpstreamRequestParts {
  body: Buffer | undefined;
  /** True when the gateway reads the response to check it, so it must arrive uncompressed. */
  checksResponse: boolean;
  /** False on an operation with declared responses but no declared 206, whose upstream must send whole representations. */
  forwardsRanges: boolean;
  /** The operation's header parameters, which the gateway validated, as normalizedHeaderName spells them. */
  headerParameters: ReadonlySet<string>;
}

/**
 * Request headers that request part of the representation (RFC 9110
 * section 14.2). On an operation with declared responses but no 206 of its
 * own, the gateway would check a 206 body under `2XX` or `default` as if
 * it were the whole document. A range of a 200 body can itself be valid
 * JSON, such as an undeclared member that the filter would have removed.
 * A server may ignore them and send 200.
 */
const RANGE_HEADERS: readonly string[] = ['range', 'if-range'];

/**
 * The request header that requests a delta against a representation the
 * client has cached (RFC 3229), which arrives as a 226 under `2XX` or
 * `default`. A server may ignore it and send 200.
 */
const DELTA_HEADER = 'a-im';

/**
 * Request headers that the gateway writes or removes itself, whatever the
 * caller sent, and the validators that decide whether it relays a 304
 * (isConditionalRead).
 */
const GATEWAY_HEADERS: ReadonlySet<string> = new Set([
  'host',
  'content-length',
  'content-type',
  'accept-encoding',
  'if-none-match',
  'if-modified-since',
  ...RANGE_HEADERS,
  DELTA_HEADER,
]);

/**
 * Deletes the caller's headers spelled with `_` or other punctuation that
 * name a header the gateway writes or reads, a header parameter it
 * validated, or another forwarded header. CGI and Rack servers map `_` and
 * `-` to the same variable (both X_Forwarded_Host and X-Forwarded-Host
 * become HTTP_X_FORWARDED_HOST in Puma), so they would read these as that
 * header. A respelled name that no other header shares is kept.
 */
function dropSpellingAliases(headers: Record<string, string | string[]>, respelled: readonly string[], headerParameters: ReadonlySet<string>): void {
  const spellings = new Map<string, number>();
  for (const name of Object.keys(headers)) {
    const normalized = normalizedHeaderName(name);
    spellings.set(normalized, (spellings.get(normalized) ?? 0) + 1);
  }

  for (const name of respelled) {
    const normalized = normalizedHeaderName(name);
    if (GATEWAY_HEADERS.has(normalized) || headerParameters.has(normalized) || (spellings.get(normalized) ?? 0) > 1) {
      delete headers[name];
    }
  }
}

function upstreamRequestHeaders(
  request: FastifyRequest,
  identity: Identity | undefined,
  assertion: string | undefined,
  options: Pick<ForwardOptions, 'upstreamHost' | 'forwardedHost' | 'forwardedProto' | 'droppedRequestHeaders'>,
  parts: UpstreamRequestParts,
): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  const perConnection = connectionOptions(request.headers.connection);
  const respelled: string[] = [];

  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined && !options.droppedRequestHeaders.get(name) && !perConnection.has(name)) {
      headers[name] = value;
      if (hasPunctuation(name)) {
        respelled.push(name);
      }
    }
  }

  Object.assign(headers, identity === undefined ? { [IDENTITY_HEADERS.requestId]: request.id } : identityHeaders(identity, request.id));
  if (assertion !== undefined) {
    headers[IDENTITY_ASSERTION_HEADER] = assertion;
  }
  headers['x-forwarded-for'] = forwardedFor(request);
  // Taken from the public URL, not from the caller's Host, so that the
  // upstream builds its absolute links from the address the gateway serves.
  headers['x-forwarded-proto'] = options.forwardedProto;
  headers['x-forwarded-host'] = options.forwardedHost;
  headers['host'] = options.upstreamHost;

  // Content-Length describes the forwarded body, so a length announced on a GET without a body is dropped.
  delete headers['content-length'];
  if (parts.body !== undefined) {
    headers['content-length'] = String(parts.body.length);
    // The upstream gets the media type that the gateway validated the body
    // as, even when the caller names Content-Type in its Connection header.
    headers['content-type'] = request.headers['content-type'] ?? 'application/octet-stream';
  }

  // A compressed body could not be parsed and checked, nor could a part or a delta.
  if (parts.checksResponse) {
    headers['accept-encoding'] = 'identity';
    delete headers[DELTA_HEADER];
  }
  // The upstream would compare If-None-Match with the validator of its
  // unchecked body, so a 304 would confirm a caller's guess of a property
  // that the check removes. The gateway compares it with the ETag it relays
  // (sendChecked). If-Modified-Since counts only without If-None-Match
  // (RFC 9110 section 13.1.3), so it goes too.
  // NOTE: If-Match on writes, and If-Range where a 206 is declared, still
  // reach the upstream, so a caller with write access can test such a guess.
  if (parts.checksResponse && isSafeRead(request.method) && headers['if-none-match'] !== undefined) {
    delete headers['if-none-match'];
    delete headers['if-modified-since'];
  }
  if (!parts.forwardsRanges) {
    for (const name of RANGE_HEADERS) {
      delete headers[name];
    }
  }

  // Only requests with punctuation in a header name pay for the check.
  if (respelled.length > 0) {
    dropSpellingAliases(headers, respelled, parts.headerParameters);
  }

  return headers;
}
