import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import createError from 'http-errors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { clientErrorProblem } from '../../src/core/client-error-status.js';
import { installProblemHandlers } from '../../src/http/problems.js';
import { problemHandler } from '../../src/library/express.js';
import { sendFrameworkError } from '../../src/library/fastify.js';

interface Problem {
  type: string;
  status: number;
  code: string;
  detail: string;
}

interface RawResponse {
  status: number;
  contentType: string | undefined;
  body: string;
}

/** Sends a request byte for byte, so headers such as a wrong Content-Length reach the server unchanged. */
function rawRequest(url: string, options: { method: string; path: string; headers: Record<string, string>; body?: string }): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${url}${options.path}`, { method: options.method, headers: options.headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, contentType: response.headers['content-type'], body: Buffer.concat(chunks).toString() }));
    });
    request.on('error', reject);
    request.end(options.body);
  });
}

describe('client error status', () => {
  it.each([
    [createError(404), 404, 'not_found'],
    [createError(403), 403, 'forbidden'],
    [createError(408), 408, 'request_timeout'],
    [createError(411), 411, 'length_required'],
    [createError(412), 412, 'precondition_failed'],
    [createError(416), 416, 'range_not_satisfiable'],
    [createError(429), 429, 'rate_limited'],
    [createError(418), 400, 'invalid_request'],
    [Object.assign(new Error('x'), { status: 431 }), 431, 'headers_too_large'],
    [Object.assign(new Error('x'), { statusCode: 414 }), 414, 'uri_too_long'],
  ])('maps %s to a problem', (error, status, code) => {
    const problem = clientErrorProblem(error);
    expect(problem?.status).toBe(status);
    expect(problem?.code).toBe(code);
  });

  it.each([[new Error('x')], [createError(500)], [createError(503)], [Object.assign(new Error('x'), { statusCode: 399 })], [null], ['text']])(
    'leaves %s to the caller',
    (error) => {
      expect(clientErrorProblem(error)).toBeUndefined();
    },
  );

  it('keeps library messages out', () => {
    const problem = clientErrorProblem(createError(404, 'table users_secret not found'));
    expect(problem?.detail).toBe('The request was rejected with status 404 (Not found).');
  });
});

describe('Fastify library errors', () => {
  let app: FastifyInstance;

  beforeAll(async () => {
    app = Fastify({ bodyLimit: 64, frameworkErrors: sendFrameworkError, routerOptions: { maxParamLength: 10 } });
    installProblemHandlers(app);
    app.post('/json', async (request) => ({ body: request.body }));
    app.get('/items/:id', async () => ({ ok: true }));
    app.get('/thrown/:status', async (request) => {
      throw createError(Number((request.params as { status: string }).status), 'secret internals');
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
  });

  afterAll(async () => {
    await app.close();
  });

  function url(): string {
    return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  }

  it.each([
    ['an unsupported media type', { 'content-type': 'text/xml' }, '<a/>', 415, 'unsupported_media_type'],
    ['an invalid Content-Type', { 'content-type': ';;;' }, '{}', 415, 'unsupported_media_type'],
    ['an empty JSON body', { 'content-type': 'application/json' }, '', 400, 'invalid_json'],
    ['invalid JSON', { 'content-type': 'application/json' }, '{', 400, 'invalid_json'],
    ['a body over the limit', { 'content-type': 'application/json' }, `{"a":"${'x'.repeat(100)}"}`, 413, 'payload_too_large'],
    ['a short body', { 'content-type': 'application/json', 'content-length': '3' }, '{}', 400, 'invalid_request'],
  ])('answers %s with a problem', async (_case, headers, body, status, code) => {
    const response = await app.inject({ method: 'POST', url: '/json', headers, payload: body });
    expect(response.statusCode).toBe(status);
    expect(response.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(response.json<Problem>().code).toBe(code);
  });

  it.each([
    ['/items/%zz', 400, 'invalid_request'],
    ['/items/12345678901', 414, 'uri_too_long'],
  ])('answers router error %s with a problem', async (path, status, code) => {
    const response = await rawRequest(url(), { method: 'GET', path, headers: {} });
    expect(response.status).toBe(status);
    expect(response.contentType).toBe('application/problem+json; charset=utf-8');
    expect((JSON.parse(response.body) as Problem).code).toBe(code);
  });

  it.each([
    ['404', 404, 'not_found'],
    ['412', 412, 'precondition_failed'],
    ['418', 400, 'invalid_request'],
    ['429', 429, 'rate_limited'],
  ])('keeps the status of a thrown %s', async (thrown, status, code) => {
    const response = await app.inject({ method: 'GET', url: `/thrown/${thrown}` });
    expect(response.statusCode).toBe(status);
    expect(response.json<Problem>().code).toBe(code);
    expect(response.body).not.toContain('secret internals');
  });
});

describe('Express library errors', () => {
  let server: Server;
  let url: string;

  beforeAll(async () => {
    const app = express();
    app.post('/json', express.json({ limit: 64 }), (request, response) => {
      response.json({ body: request.body as unknown });
    });
    app.get('/thrown/:status', (request) => {
      throw createError(Number(request.params['status']), 'secret internals');
    });
    app.use(problemHandler());

    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it.each([
    ['invalid JSON', { 'content-type': 'application/json' }, '{', 400, 'invalid_json'],
    ['a body over the limit', { 'content-type': 'application/json' }, `{"a":"${'x'.repeat(100)}"}`, 413, 'payload_too_large'],
    ['an unsupported charset', { 'content-type': 'application/json; charset=klingon' }, '{}', 415, 'unsupported_media_type'],
    ['an unsupported encoding', { 'content-type': 'application/json', 'content-encoding': 'klingon' }, '{}', 415, 'unsupported_media_type'],
  ])('answers %s with a problem', async (_case, headers, body, status, code) => {
    const response = await rawRequest(url, { method: 'POST', path: '/json', headers, body });
    expect(response.status).toBe(status);
    expect(response.contentType).toMatch(/^application\/problem\+json/);
    expect((JSON.parse(response.body) as Problem).code).toBe(code);
  });

  it.each([
    ['404', 404, 'not_found'],
    ['412', 412, 'precondition_failed'],
    ['429', 429, 'rate_limited'],
  ])('keeps the status of a thrown %s', async (thrown, status, code) => {
    const response = await rawRequest(url, { method: 'GET', path: `/thrown/${thrown}`, headers: {} });
    expect(response.status).toBe(status);
    expect((JSON.parse(response.body) as Problem).code).toBe(code);
    expect(response.body).not.toContain('secret internals');
  });
});
