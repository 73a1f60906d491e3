import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ProblemError } from '../../src/core/problem.js';
import { loggedHttpApp } from '../support/http-app.js';

describe('shared HTTP behaviour', () => {
  const { app, logs } = loggedHttpApp({ https: true });

  beforeAll(async () => {
    app.get('/boom', async () => {
      throw new Error('database password is hunter2 at /srv/app/src/secret.ts:12');
    });
    app.get('/gone', async () => {
      throw new ProblemError('not_found', 'No such thing.');
    });
    app.get('/items/:id', async () => ({}));
    app.post('/echo', { schema: { body: { type: 'object', additionalProperties: false, properties: { a: { type: 'string' } } } } }, async (request) => request.body);
    await app.ready();
  });

  afterAll(async () => {
    await app.close();
  });

  it('hides the cause of a 500 but logs it', async () => {
    const response = await app.inject({ method: 'GET', url: '/boom' });

    expect(response.statusCode).toBe(500);
    expect(response.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    const body = response.json<{ request_id: string; code: string; detail: string }>();
    expect(body.code).toBe('internal_error');
    expect(response.body).not.toContain('hunter2');
    expect(response.body).not.toContain('secret.ts');
    expect(response.body).not.toMatch(/\bat\b.*:\d+/);
    expect(response.headers['x-request-id']).toBe(body.request_id);

    const logged = logs.map((line) => JSON.parse(line) as { level: number; reqId?: string; err?: { message: string } });
    const entry = logged.find((line) => line.level === 50 && line.reqId === body.request_id);
    expect(entry?.err?.message).toContain('hunter2');
  });

  it('sends HSTS when served over https', async () => {
    const response = await app.inject({ method: 'GET', url: '/gone' });
    expect(response.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    expect(response.statusCode).toBe(404);
    expect(response.json<{ detail: string }>().detail).toBe('No such thing.');
  });

  it('rejects an empty JSON body', async () => {
    const response = await app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload: '' });
    expect(response.statusCode).toBe(400);
    expect(response.json<{ code: string }>().code).toBe('invalid_json');
  });

  it('rejects a body over the limit', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ a: 'x'.repeat(4096) }),
    });
    expect(response.statusCode).toBe(413);
    expect(response.json<{ code: string }>().code).toBe('payload_too_large');
  });

  it('rejects text/plain bodies', async () => {
    const response = await app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'text/plain' }, payload: 'a' });
    expect(response.statusCode).toBe(415);
    expect(response.json<{ code: string }>().code).toBe('unsupported_media_type');
  });

  it('rejects other methods with 405', async () => {
    const cases: Array<[string, string, string]> = [
      ['DELETE', '/gone', 'GET, HEAD'],
      ['PROPFIND', '/gone', 'GET, HEAD'],
      ['GET', '/echo', 'POST'],
      ['POST', '/items/5', 'GET, HEAD'],
    ];
    for (const [method, url, allow] of cases) {
      const response = await app.inject({ method: method as 'GET', url: `${url}?q=1` });

      expect(response.statusCode, `${method} ${url}`).toBe(405);
      expect(response.headers['allow'], `${method} ${url}`).toBe(allow);
      expect(response.headers['content-type'], `${method} ${url}`).toBe('application/problem+json; charset=utf-8');
      expect(response.headers['x-content-type-options'], `${method} ${url}`).toBe('nosniff');
      const body = response.json<{ code: string; detail: string }>();
      expect(body.code, `${method} ${url}`).toBe('method_not_allowed');
      expect(body.detail, `${method} ${url}`).toBe(`${url} does not accept ${method}. It accepts ${allow}.`);
    }
  });

  it('rejects other methods on empty parameters', async () => {
    // The router matches an empty parameter value, so GET /items/ reaches the /items/:id route.
    expect((await app.inject({ method: 'GET', url: '/items/' })).statusCode).toBe(200);

    const response = await app.inject({ method: 'DELETE', url: '/items/' });

    expect(response.statusCode).toBe(405);
    expect(response.headers['allow']).toBe('GET, HEAD');
    expect(response.json<{ code: string }>().code).toBe('method_not_allowed');
  });

  it('returns 404 for unserved paths', async () => {
    for (const url of ['/nothing', '/items', '/items/5/more', '/gone/']) {
      const response = await app.inject({ method: 'DELETE', url });

      expect(response.statusCode, url).toBe(404);
      expect(response.headers['allow'], url).toBeUndefined();
      expect(response.json<{ code: string }>().code, url).toBe('not_found');
    }
  });

  it('ignores the body of unserved routes', async () => {
    const cases: Array<[string, number]> = [
      ['/nothing', 404],
      ['/gone', 405],
    ];
    for (const [url, status] of cases) {
      const response = await app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: '{"a":' });

      expect(response.statusCode, url).toBe(status);
      expect(response.json<{ status: number }>().status, url).toBe(status);
    }
  });
});
