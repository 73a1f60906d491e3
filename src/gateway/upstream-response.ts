import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { TextDecoder } from 'node:util';

import { StringMemo } from '../core/cache/string-memo.js';
import { charsetsOf } from '../core/openapi/json-body.js';
import { ProblemError } from '../core/problem.js';

/** The body of an upstream response, claimed once: read whole, relayed as a stream, or discarded. */
export interface UpstreamBody {
  /**
   * Reads the whole body into memory. Rejects with RejectedResponse: 502
   * when the body exceeds `limitBytes` or the connection fails, 504 when it
   * does not arrive within `timeoutMs`.
   */
  read(limits: BodyLimits): Promise<Buffer>;
  /** Returns the body as a stream, to relay it unchanged. */
  stream(): Readable;
  /**
   * Waits, without claiming the body, until its first bytes or its end
   * arrived. Returns undefined when they have already, and throws or
   * rejects with RejectedResponse (502 or 504) when the body failed first.
   */
  started(limits: BodyLimits): Promise<void> | undefined;
  /** Claims and returns the whole body if it has arrived already. Otherwise returns undefined and leaves the body unclaimed. */
  takeComplete(): Buffer | undefined;
  /** Drops the body. Unless it has arrived already, the upstream connection is closed. */
  discard(): void;
}

/** The upstream's response as it arrives: status, headers and an unclaimed body. */
export interface UpstreamResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: UpstreamBody;
}

/**
 * An upstream response that the gateway will not relay. `problem` is what
 * sent to the caller, and `reason` and `context` go to the log only.
 */
export class RejectedResponse extends Error {
  constructor(
    readonly problem: ProblemError,
    readonly reason: string,
    readonly context: Record<string, unknown> = {},
  ) {
    super(reason);
    this.name = 'RejectedResponse';
  }
}

/** Limits on reading an upstream response body. */
export interface BodyLimits {
  /** Largest body, in bytes. */
  limitBytes: number;
  /** Maximum time to receive the whole body, in milliseconds. */
  timeoutMs: number;
}

/**
 * Tells whether a Content-Encoding value, in one field line or several,
 * lists no coding but `identity`, so that the body arrives as its headers declare.
 */
export function isIdentityEncoding(value: string | string[] | undefined): boolean {
  if (value === undefined) {
    return true;
  }
  const codings = (Array.isArray(value) ? value.join(',') : value).split(',');
  return codings.every((coding) => {
    const name = coding.trim().toLowerCase();
    return name === '' || name === 'identity';
  });
}

export function badGateway(detail: string, reason: string, context: Record<string, unknown> = {}): RejectedResponse {
  return new RejectedResponse(new ProblemError('bad_gateway', detail), reason, context);
}

export function bodyTimedOut(limits: BodyLimits): RejectedResponse {
  const problem = new ProblemError('gateway_timeout', 'The upstream service did not send its response in time.');
  return new RejectedResponse(problem, 'response body timed out', { timeoutMs: limits.timeoutMs });
}

export function bodyTooLarge(limits: BodyLimits): RejectedResponse {
  return badGateway('The upstream response is larger than the gateway accepts.', 'response body over the limit', { limitBytes: limits.limitBytes });
}

export function bodyReadFailed(error: Error): RejectedResponse {
  return badGateway('The upstream connection failed while sending the response.', 'response body read failed', { err: error });
}

/**
 * Returns the body of `upstream` to relay unchanged: the bytes themselves
 * when the whole body has arrived already, which Fastify sends with less
 * work than a stream, and a stream otherwise. Two responses always get a
 * stream: one without a Content-Type, because Fastify would label bytes
 * `application/octet-stream`, and the response to HEAD, whose empty body
 * Fastify would announce as `Content-Length: 0`.
 */
export function relayedBody(upstream: UpstreamResponse, requestMethod: string): Buffer | Readable {
  if (requestMethod !== 'HEAD' && upstream.headers['content-type'] !== undefined) {
    const complete = upstream.body.takeComplete();
    if (complete !== undefined) {
      return complete;
    }
  }

  return upstream.body.stream();
}

/**
 * Returns the payload of a response without a body. Fastify's HEAD route
 * announces an undefined payload as `Content-Length: 0`, which a 204 or
 * 304 must not carry (RFC 9110 sections 8.6 and 15.4.5), so HEAD gets an
 * empty stream, for which it announces no length.
 */
export function emptyBody(requestMethod: string): Readable | undefined {
  return requestMethod === 'HEAD' ? Readable.from([]) : undefined;
}

/**
 * Reads the whole body of `upstream` into memory. A body whose
 * Content-Length announces more than `limitBytes` is discarded unread.
 * Otherwise the body's own read applies the limits.
 */
export function readUpstreamBody(upstream: UpstreamResponse, limits: BodyLimits): Promise<Buffer> {
  const announced = Number(upstream.headers['content-length']);
  if (Number.isFinite(announced) && announced > limits.limitBytes) {
    upstream.body.discard();
    return Promise.reject(bodyTooLarge(limits));
  }

  return upstream.body.read(limits);
}

/** The charset of a JSON body without a charset parameter (RFC 8259 section 8.1). */
const JSON_CHARSET = 'utf-8';

/**
 * Strict decoders by charset label, reused because a decode without the
 * `stream` option keeps no state. Only labels that TextDecoder supports
 * are added, so the map is no larger than TextDecoder's list of labels.
 */
const decoders = new Map<string, TextDecoder>();

/** Limits of the results remembered per Content-Type value. An upstream sends only a few distinct values. */
const CONTENT_TYPE_MEMO = { maxEntries: 16, maxKeyLength: 128 };

/** The distinct charset parameters of a Content-Type, remembered per value. */
const distinctCharsets = new StringMemo((contentType) => [...new Set(charsetsOf(contentType))], CONTENT_TYPE_MEMO);

/**
 * Returns the charset that the Content-Type of an upstream body names, or
 * UTF-8 when it names none. Throws a 502 RejectedResponse when it names
 * several different ones, since clients differ in which one they honour.
 */
function upstreamCharset(contentType: string | undefined): string {
  const charsets = distinctCharsets.get(contentType ?? '');
  if (charsets.length > 1) {
    throw badGateway('The upstream response names more than one charset.', 'several charsets', { charsets: charsets.slice(0, 4) });
  }
  return charsets[0] ?? JSON_CHARSET;
}

/**
 * Decodes an upstream JSON body by the charset its Content-Type names, so
 * that the gateway checks the text a client that honours the charset reads.
 * A leading byte order mark is dropped. Throws a 502 RejectedResponse for
 * a charset that TextDecoder does not know, such as UTF-7, or for bytes
 * that are invalid in the charset, which a lenient decoder would replace
 * with U+FFFD.
 */
export function decodeUpstreamText(body: Buffer, contentType: string | undefined): string {
  const charset = upstreamCharset(contentType);

  let decoder = decoders.get(charset);
  if (decoder === undefined) {
    try {
      decoder = new TextDecoder(charset, { fatal: true });
    } catch {
      throw badGateway('The upstream response has a charset that the gateway cannot read.', 'unsupported charset', { charset: charset.slice(0, 40) });
    }
    decoders.set(charset, decoder);
  }

  try {
    return decoder.decode(body);
  } catch {
    throw badGateway('The upstream response body is not valid in its charset.', 'response body has invalid bytes for its charset', { charset });
  }
}

/**
 * Returns `contentType` with its charset parameters replaced by
 * `charset=utf-8`, or unchanged when it has none. A body that the gateway
 * decoded and serialized again is UTF-8 whatever the upstream sent, and a
 * client that honours the charset must read it as such.
 */
function replaceCharset(contentType: string): string {
  if (charsetsOf(contentType).length === 0) {
    return contentType;
  }

  const [type = '', ...parameters] = contentType.split(';');
  const kept = parameters.filter((parameter) => {
    const name = parameter.split('=')[0]?.trim().toLowerCase();
    return name !== 'charset' && name !== 'charset*';
  });
  return [type.trim(), ...kept.map((parameter) => parameter.trim()), 'charset=utf-8'].join('; ');
}

const utf8ContentTypes = new StringMemo(replaceCharset, CONTENT_TYPE_MEMO);

/** Returns `contentType` with `charset=utf-8` in place of its charset parameters, remembered per value. */
export function withUtf8Charset(contentType: string): string {
  return utf8ContentTypes.get(contentType);
}
