import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestServer, type TestServer } from '../support/server.js';

/** The endpoints that read a form body from a POST. */
const FORM_ENDPOINTS = ['/oauth/token', '/oauth/introspect', '/oauth/revoke', '/oauth/userinfo', '/oauth/logout/confirm'];

describe('OAuth request body size', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server?.close();
  });

  async function post(path: string, padding: number): Promise<Response> {
    return fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=client_credentials&client_id=${server.demoClientId}&padding=${'x'.repeat(padding)}`,
    });
  }

  it.each(FORM_ENDPOINTS)('rejects an oversized body on %s', async (path) => {
    const response = await post(path, 60 * 1024);

    expect(response.status).toBe(413);
    expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    const body = (await response.json()) as Record<string, unknown>;
    expect(body['code']).toBe('payload_too_large');
    expect(body['detail']).toBe('The request body is larger than 57344 bytes, the most that the OAuth endpoints accept.');
  });

  it('passes a body within the limit', async () => {
    const response = await post('/oauth/token', 50 * 1024);

    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(((await response.json()) as { error: string }).error).toBe('unauthorized_client');
  });
});
