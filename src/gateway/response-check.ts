import type { FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import secureJson from 'secure-json-parse';

import { hasInexactNumber } from '../core/openapi/json-body.js';
import type { ResponseCheck, ResponseRules } from '../core/openapi/response-schema.js';
import { andThen, isPromise, type Pending } from '../core/pending.js';
import { sendProblem } from '../http/problems.js';
import { removeRelayedHeaders } from './relayed-headers.js';
import { undeclaredClientError } from './upstream-client-error.js';
import {
  RejectedResponse,
  badGateway,
  decodeUpstreamText,
  emptyBody,
  isIdentityEncoding,
  readUpstreamBody,
  relayedBody,
  withUtf8Charset,
  type BodyLimits,
  type UpstreamResponse,
} from './upstream-response.js';

/** Maximum number of schema violations logged for one rejected response. */
const MAX_LOGGED_ERRORS = 20;

/** Response headers of the upstream that an undeclared client error keeps. */
const CLIENT_ERROR_HEADERS = new Set(['retry-after', 'allow']);

/** Options of the response check. */
export interface ResponseCheckOptions extends BodyLimits {
  /** Maximum time to relay a body unchecked, from its first bytes to its end, in milliseconds. */
  relayTimeoutMs: number;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function parseJson(text: string): unknown {
  try {
    return secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (error) {
    const poisoned = /prototype|constructor/i.test((error as Error).message);
    throw badGateway('The upstream response body is not valid JSON.', poisoned ? 'response body contains a forbidden key' : 'response body is not valid JSON');
  }
}

function relayJson(reply: FastifyReply, upstream: UpstreamResponse, check: (value: unknown) => ResponseCheck, options: ResponseCheckOptions): Promise<void> {
  const encoding = upstream.headers['content-encoding'];
  if (!isIdentityEncoding(encoding)) {
    upstream.body.discard();
    throw badGateway('The upstream response is compressed, so the gateway cannot check it.', 'response body is encoded', { encoding });
  }

  const contentType = headerValue(upstream.headers['content-type']);
  return readUpstreamBody(upstream, options).then((body) => {
    const text = decodeUpstreamText(body, contentType);
    const value = parseJson(text);
    // The body goes out serialized again, so a number that a double cannot hold would reach the caller changed.
    if (hasInexactNumber(text)) {
      throw badGateway('The upstream response has a number that the gateway cannot relay without changing its value.', 'response body has a number beyond double precision');
    }
    sendChecked(reply, check(value), contentType);
  });
}

/**
 * Upstream response headers computed from the upstream's own bytes, which a
 * checked body does not keep. Their values would tell the caller about
 * what the check removed. Express 5 sends `W/"<length in hex>-<SHA-1>"`
 * of the whole body as its default ETag (the `etag` package, 1.8), so the
 * length gives away the size of a removed property. A digest or that hash
 * lets a caller confirm a guess of its value.
 */
const UPSTREAM_BODY_HEADERS: readonly string[] = ['content-length', 'content-digest', 'repr-digest', 'digest', 'content-md5', 'content-range'];

function removeUpstreamBodyHeaders(reply: FastifyReply): void {
  for (const name of UPSTREAM_BODY_HEADERS) {
    reply.removeHeader(name);
  }
}

/** Sends the checked body, serialized again as UTF-8, or throws a 502 when it violates the schema. */
function sendChecked(reply: FastifyReply, result: ResponseCheck, contentType: string | undefined): void {
  if (result.errors.length > 0) {
    throw badGateway('The upstream response does not match the schema the API declares.', 'response body violates the declared schema', {
      errors: result.errors.slice(0, MAX_LOGGED_ERRORS),
      errorCount: result.errors.length,
    });
  }
  // The ETag still identifies the body when the check removed nothing, so
  // conditional requests keep working for it.
  if (result.removedCount > 0) {
    reply.request.log.debug({ removed: result.removed, removedCount: result.removedCount }, 'undeclared response properties removed');
    reply.removeHeader('etag');
  }

  // Fastify computes Content-Length from the new body, which has no coding.
  removeUpstreamBodyHeaders(reply);
  reply.removeHeader('transfer-encoding');
  reply.removeHeader('content-encoding');
  if (contentType !== undefined) {
    reply.header('content-type', withUtf8Charset(contentType));
  }
  if (isNotModified(reply)) {
    sendNotModified(reply);
    return;
  }
  reply.send(Buffer.from(JSON.stringify(result.value), 'utf8'));
}

/**
 * Tells whether a successful response to a GET or HEAD would be a 304,
 * because its If-None-Match matches the ETag that the gateway relays. The
 * upstream of a checked operation does not get If-None-Match (see
 * forward.ts), so the gateway must evaluate it for both methods (RFC 9110
 * section 13.1.2).
 */
function isNotModified(reply: FastifyReply): boolean {
  const { method } = reply.request;
  const successful = reply.statusCode >= 200 && reply.statusCode < 300;
  const read = method === 'GET' || method === 'HEAD';
  return successful && read && matchesIfNoneMatch(reply.request.headers['if-none-match'], reply.getHeader('etag'));
}

function sendNotModified(reply: FastifyReply): void {
  reply.code(NOT_MODIFIED);
  for (const name of ['content-type', 'content-length', 'transfer-encoding']) {
    reply.removeHeader(name);
  }
  reply.send();
}

const NOT_MODIFIED = 304;

/** An entity tag in a list: an optional `W/` and a quoted opaque tag. */
const ENTITY_TAG = /(?:W\/)?"[^"]*"/g;

/** Returns the opaque tag of an entity tag, without the `W/` of a weak one. */
function opaqueTag(entityTag: string): string {
  const tag = entityTag.trim();
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

/**
 * Tells whether an If-None-Match value matches `etag` by the weak
 * comparison that RFC 9110 section 13.1.2 prescribes for GET: `*`, or a
 * listed tag with the same opaque tag. A response without an ETag matches
 * only `*`.
 */
function matchesIfNoneMatch(condition: string | undefined, etag: unknown): boolean {
  if (condition === undefined) {
    return false;
  }
  if (condition.trim() === '*') {
    return true;
  }
  if (typeof etag !== 'string') {
    return false;
  }
  const current = opaqueTag(etag);
  // An opaque tag may contain commas but no DQUOTE (RFC 9110 section 8.8.3), so the tags are read quote to quote.
  return (condition.match(ENTITY_TAG) ?? []).some((tag) => opaqueTag(tag) === current);
}

/** Relays a response that the API declares without content, dropping any body the upstream sent. */
function relayEmpty(reply: FastifyReply, upstream: UpstreamResponse): void {
  upstream.body.discard();
  for (const name of ['content-length', 'content-type', 'content-encoding', 'transfer-encoding']) {
    reply.removeHeader(name);
  }
  reply.send(emptyBody(reply.request.method));
}

/** Relays the response to a HEAD request, which has no body to check (RFC 9110 section 9.3.2). */
function relayHeadResponse(reply: FastifyReply, upstream: UpstreamResponse): void {
  // The upstream's length, ETag and digests are those of its unchecked body,
  // and the check of a GET may remove properties from it. Sent as a stream,
  // the empty body keeps Fastify from setting the length of a HEAD response to 0.
  removeUpstreamBodyHeaders(reply);
  reply.removeHeader('etag');
  // Without an ETag, only `If-None-Match: *` matches.
  if (isNotModified(reply)) {
    upstream.body.discard();
    sendNotModified(reply);
    return;
  }
  // A GET gets the body as UTF-8 (sendChecked), and HEAD must name the same Content-Type.
  const contentType = headerValue(upstream.headers['content-type']);
  if (contentType !== undefined) {
    reply.header('content-type', withUtf8Charset(contentType));
  }
  reply.send(upstream.body.stream());
}

async function relayUndeclared(reply: FastifyReply, upstream: UpstreamResponse, options: ResponseCheckOptions): Promise<void> {
  const status = upstream.statusCode;
  if (status >= 500) {
    upstream.body.discard();
    throw badGateway(`The upstream service failed with status ${status}.`, 'upstream server error');
  }
  if (status < 400) {
    upstream.body.discard();
    throw badGateway(`The upstream responded with status ${status}, which the API does not declare for this operation.`, 'undeclared status');
  }

  const { contentType, document } = await undeclaredClientError(upstream, options, reply.request.id);
  removeRelayedHeaders(reply, upstream.headers, CLIENT_ERROR_HEADERS);
  reply.code(status).header('cache-control', 'no-store').type(contentType).send(document);
}

/**
 * Relays the body unchanged once its first bytes arrived. Fastify would
 * write the response head only then as well, and a body that fails before
 * it still gets a 502 or 504 instead of Fastify's 500 for a failed stream.
 *
 * The upstream timeout bounds the gap between two chunks, and the relay
 * timeout the whole body, so an upstream that keeps sending a few bytes
 * cannot hold the connections past the relay timeout.
 */
function relayUnchecked(reply: FastifyReply, upstream: UpstreamResponse, options: ResponseCheckOptions): Pending<void> {
  return andThen(upstream.body.started(options), () => {
    const body = relayedBody(upstream, reply.request.method);
    if (body instanceof Readable) {
      endRelayAfter(reply, body, options.relayTimeoutMs);
    }
    reply.send(body);
  });
}

/**
 * Destroys a relayed body that is still open after `timeoutMs`, whether the
 * upstream is slow to send it or the caller slow to read it. The caller
 * already has the response head, so its connection is closed, and the
 * upstream request is aborted with the stream.
 *
 * NOTE: one deadline applies to every upstream and route, so event streams
 * and long downloads need `gateway.relayTimeoutMs` raised for all of them.
 */
function endRelayAfter(reply: FastifyReply, body: Readable, timeoutMs: number): void {
  const timer = setTimeout(() => {
    reply.request.log.warn({ relayTimeoutMs: timeoutMs }, 'relay of the upstream response body timed out; connection closed');
    // Without an error, Fastify logs no second warning with a stack trace.
    body.destroy();
  }, timeoutMs);
  body.once('close', () => clearTimeout(timer));
}

/** Relays the response by the rule of its status and Content-Type. Only a body that must be read first returns a promise. */
function relayChecked(reply: FastifyReply, upstream: UpstreamResponse, rules: ResponseRules, options: ResponseCheckOptions): Pending<void> {
  // The check would read the body as the first type, and a client could read it as another.
  if (Array.isArray(upstream.headers['content-type'])) {
    upstream.body.discard();
    throw badGateway('The upstream response has more than one Content-Type.', 'several content types', { count: upstream.headers['content-type'].length });
  }

  const rule = rules.select(upstream.statusCode, headerValue(upstream.headers['content-type']));

  switch (rule.kind) {
    case 'unchecked':
      // The body goes out unchanged, so its ETag is the upstream's own.
      if (isNotModified(reply)) {
        upstream.body.discard();
        sendNotModified(reply);
        return;
      }
      return relayUnchecked(reply, upstream, options);
    case 'empty':
      relayEmpty(reply, upstream);
      return;
    case 'json':
      if (reply.request.method === 'HEAD') {
        relayHeadResponse(reply, upstream);
        return;
      }
      return relayJson(reply, upstream, rule.check, options);
    case 'undeclared':
      return relayUndeclared(reply, upstream, options);
    case 'unfilterable_media_type':
      upstream.body.discard();
      throw badGateway(
        'The upstream response is not JSON, so the gateway cannot remove the properties that the schema the API declares leaves out.',
        'response body not JSON under a schema that describes objects',
        { contentType: headerValue(upstream.headers['content-type'])?.slice(0, 100) },
      );
    case 'undeclared_media_type':
      upstream.body.discard();
      throw badGateway('The upstream response has a Content-Type that the API does not declare for its status.', 'undeclared content type', {
        contentType: headerValue(upstream.headers['content-type'])?.slice(0, 100),
        declared: rule.declared,
      });
  }
}

/**
 * Relays an upstream response. Without `rules` (the operation declares no
 * responses), the body is relayed unchanged. With them, it is checked
 * against the declared responses (OWASP API3 and API10):
 *
 * - a declared JSON response is read (at most `limitBytes`, within
 *   `timeoutMs`), parsed without prototype keys, stripped of undeclared and
 *   `writeOnly` properties, and validated against its schema;
 * - the response to a HEAD request for a declared JSON response keeps its
 *   headers except Content-Length, because it has no body to check;
 * - a declared response without content loses any body the upstream sent;
 * - a declared response without a JSON schema is streamed unchanged,
 *   unless its schema describes objects and the body is not JSON;
 * - an undeclared client error (4xx) keeps its status, with a problem
 *   document rebuilt from the upstream's;
 * - anything else becomes 502 (504 for a body that arrives too slowly), and
 *   the cause is logged at warn without the body.
 *
 * In both cases, a body that fails before its first bytes gets 502 or 504.
 */
export function relayUpstreamResponse(
  request: FastifyRequest,
  reply: FastifyReply,
  upstream: UpstreamResponse,
  rules: ResponseRules | undefined,
  options: ResponseCheckOptions,
): void {
  const fail = (error: unknown) => {
    upstream.body.discard();

    // The caller's departure cancels the upstream request. The body read
    // then fails for a reason unrelated to the upstream, so it is logged at info.
    if (request.raw.socket.destroyed) {
      request.log.info({ upstreamStatus: upstream.statusCode }, 'caller closed the connection before the response was complete; upstream response dropped');
      return;
    }

    const rejected = error instanceof RejectedResponse ? error : badGateway('The upstream response could not be checked.', 'response check failed', { err: error });

    request.log.warn({ upstreamStatus: upstream.statusCode, reason: rejected.reason, ...rejected.context }, 'upstream response rejected');
    if (reply.sent) {
      return;
    }

    removeRelayedHeaders(reply, upstream.headers);
    sendProblem(reply, rejected.problem);
  };

  try {
    const relayed = rules === undefined ? relayUnchecked(reply, upstream, options) : relayChecked(reply, upstream, rules, options);
    if (isPromise(relayed)) {
      Promise.resolve(relayed).catch(fail);
    }
  } catch (error) {
    fail(error);
  }
}
