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
 * Rejects with RejectedResponse: 502 for an oversized body or a broken
 * connection, 504 when the body does not arrive within `timeoutMs`.
 *
 * The body is read through stream events rather than an async iterator,
 * which would cost a promise per chunk.
 */
export function readUpstreamBody(upstream: UpstreamResponse, limits: BodyLimits): Promise<Buffer> {
  const tooLarge = () =>
    badGateway('The upstream response is larger than the gateway accepts.', 'response body over the limit', { limitBytes: limits.limitBytes });
  const stream = upstream.stream;
  const broken = () => badGateway('The upstream connection failed while sending the response.', 'response body read failed');

  // A stream destroyed before this call emits no further event to wait for.
  if (stream.destroyed) {
    return Promise.reject(broken());
  }

  const announced = Number(upstream.headers['content-length']);
  if (Number.isFinite(announced) && announced > limits.limitBytes) {
    stream.destroy();
    return Promise.reject(tooLarge());
  }

  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;

    const settle = (failure?: RejectedResponse) => {
      if (settled) {
        return;
      }
      settled = true;
      clearTimeout(timer);
      stream.off('data', onData);
      if (failure === undefined) {
        resolve(Buffer.concat(chunks, size));
      } else {
        stream.destroy();
        reject(failure);
      }
    };

    const onData = (chunk: Buffer | string) => {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
      size += buffer.length;
      if (size > limits.limitBytes) {
        settle(tooLarge());
        return;
      }
      chunks.push(buffer);
    };

    const timer = setTimeout(() => settle(bodyTimedOut(limits)), limits.timeoutMs);
    stream.on('data', onData);
    // A 'data' listener does not restart a stream that was paused explicitly.
    stream.resume();
    stream.once('end', () => settle());
    stream.once('error', (error) => {
      settle(isUpstreamTimeout(error) ? bodyTimedOut(limits) : badGateway('The upstream connection failed while sending the response.', 'response body read failed', { err: error }));
    });
    // A stream destroyed elsewhere closes without an end or an error.
    stream.once('close', () => {
      if (!settled) {
        settle(broken());
      }
    });
  });
}
