import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';

import { ProblemError } from '../core/problem.js';
import { isUpstreamTimeout } from './upstream-client.js';

/** The upstream's response as it arrives: status, headers and an unread body. */
export interface UpstreamResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  stream: Readable;
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

export function badGateway(detail: string, reason: string, context: Record<string, unknown> = {}): RejectedResponse {
  return new RejectedResponse(new ProblemError('bad_gateway', detail), reason, context);
}

function bodyTimedOut(limits: BodyLimits): RejectedResponse {
  const problem = new ProblemError('gateway_timeout', 'The upstream service did not send its response in time.');
  return new RejectedResponse(problem, 'response body timed out', { timeoutMs: limits.timeoutMs });
}

/**
 * Reads the whole body of `upstream` into memory. It stops reading and
 * destroys the stream as soon as the body exceeds `limitBytes` (also when
 * Content-Length announces more), so an oversized body is never buffered.
 * Throws RejectedResponse: 502 for an oversized body or a broken
 * connection, 504 when the body does not arrive within `timeoutMs`.
 */
export async function readUpstreamBody(upstream: UpstreamResponse, limits: BodyLimits): Promise<Buffer> {
  const tooLarge = () =>
    badGateway('The upstream response is larger than the gateway accepts.', 'response body over the limit', { limitBytes: limits.limitBytes });

  const announced = Number(upstream.headers['content-length']);
  if (Number.isFinite(announced) && announced > limits.limitBytes) {
    upstream.stream.destroy();
    throw tooLarge();
  }

  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    upstream.stream.destroy();
  }, limits.timeoutMs);

  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of upstream.stream) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
      size += buffer.length;
      if (size > limits.limitBytes) {
        throw tooLarge();
      }
      chunks.push(buffer);
    }
  } catch (error) {
    if (error instanceof RejectedResponse) {
      throw error;
    }
    if (timedOut || isUpstreamTimeout(error)) {
      throw bodyTimedOut(limits);
    }
    throw badGateway('The upstream connection failed while sending the response.', 'response body read failed', { err: error });
  } finally {
    clearTimeout(timer);
  }

  // A destroyed stream may end the loop without an error.
  if (timedOut) {
    throw bodyTimedOut(limits);
  }

  return Buffer.concat(chunks, size);
}
