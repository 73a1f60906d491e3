import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';

import { RejectedResponse, readUpstreamBody, type UpstreamResponse } from '../../src/gateway/upstream-response.js';

function upstreamOf(stream: PassThrough, headers: UpstreamResponse['headers'] = {}): UpstreamResponse {
  return { statusCode: 200, headers, stream };
}

async function rejectionOf(promise: Promise<Buffer>): Promise<RejectedResponse> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (!(error instanceof RejectedResponse)) {
    throw new Error(`expected a RejectedResponse, got ${String(error)}`);
  }
  return error;
}

const limits = { limitBytes: 16, timeoutMs: 200 };

describe('upstream body reading', () => {
  it('reads a body in chunks', async () => {
    const stream = new PassThrough();
    const body = readUpstreamBody(upstreamOf(stream), limits);

    stream.write('{"a":');
    stream.end('1}');

    expect((await body).toString()).toBe('{"a":1}');
  });

  it('reads a paused stream', async () => {
    const stream = new PassThrough();
    stream.pause();
    const body = readUpstreamBody(upstreamOf(stream), limits);

    stream.end('{}');

    expect((await body).toString()).toBe('{}');
  });

  it('rejects an announced oversized body', async () => {
    const stream = new PassThrough();

    const rejected = await rejectionOf(readUpstreamBody(upstreamOf(stream, { 'content-length': '17' }), limits));

    expect(rejected.problem.status).toBe(502);
    expect(rejected.reason).toBe('response body over the limit');
    expect(stream.destroyed).toBe(true);
  });

  it('stops reading past the limit', async () => {
    const stream = new PassThrough();
    const body = readUpstreamBody(upstreamOf(stream), limits);

    stream.write('x'.repeat(10));
    stream.write('x'.repeat(10));

    const rejected = await rejectionOf(body);
    expect(rejected.reason).toBe('response body over the limit');
    expect(stream.destroyed).toBe(true);
  });

  it('rejects a destroyed stream', async () => {
    const stream = new PassThrough();
    stream.destroy();

    const rejected = await rejectionOf(readUpstreamBody(upstreamOf(stream), limits));

    expect(rejected.problem.status).toBe(502);
    expect(rejected.reason).toBe('response body read failed');
  });

  it('rejects a stream destroyed while read', async () => {
    const stream = new PassThrough();
    const body = readUpstreamBody(upstreamOf(stream), limits);

    stream.write('{"a":');
    stream.destroy(new Error('socket hang up'));

    const rejected = await rejectionOf(body);
    expect(rejected.problem.status).toBe(502);
    expect(rejected.reason).toBe('response body read failed');
  });

  it('times out a stalled body', async () => {
    const stream = new PassThrough();
    const body = readUpstreamBody(upstreamOf(stream), limits);

    stream.write('{"a":');

    const rejected = await rejectionOf(body);
    expect(rejected.problem.status).toBe(504);
    expect(rejected.reason).toBe('response body timed out');
    expect(stream.destroyed).toBe(true);
  });
});
