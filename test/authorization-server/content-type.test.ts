import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestServer, type TestServer } from '../support/server.js';

/** Content-Type values that Fastify cannot parse as a media type. */
const MALFORMED_CONTENT_TYPES = [';', 'form', 'application/', '/x-www-form-urlencoded'];

/**
 * Requests to oidc-provider's endpoints whose Content-Type is malformed. They
 * must get the endpoint's RFC 6749 error, like any other body that is not a
 * form, and a path or method that no endpoint serves keeps its 404 or 405.
 */
describe('malformed Content-Type on OAuth endpoints', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server?.close();
  });

  async function post(path: string, contentType: string): Promise<Response> {
    return fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: `grant_type=authorization_code&client_id=${server.demoClientId}`,
    });
  }

  it('gets an RFC 6749 error', async () => {
    for (const path of ['/oauth/token', '/oauth/introspect', '/oauth/revoke', '/oauth/par']) {
      for (const contentType of MALFORMED_CONTENT_TYPES) {
        const response = await post(path, contentType);
        const label = `${path} with ${contentType}`;

        expect(response.status, label).toBe(400);
        expect(response.headers.get('content-type'), label).toMatch(/^application\/json/);
        const body = (await response.json()) as { error?: string; error_description?: string };
        expect(body.error, label).toBe('invalid_request');
        expect(body.error_description, label).toContain('application/x-www-form-urlencoded');
        expect(response.headers.get('cache-control'), label).toBe('no-store');
      }
    }
  });

  it('keeps 404 and 405 problem documents', async () => {
    const unknown = await post('/oauth/unknown', ';');
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toMatch(/^application\/problem\+json/);

    const readOnly = await post('/.well-known/jwks.json', ';');
    expect(readOnly.status).toBe(405);
    expect(readOnly.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
  });

  it('logs no server error', async () => {
    await post('/oauth/token', ';');

    const errors = server.logs.filter((line) => (JSON.parse(line) as { level: number }).level >= 50);
    expect(errors).toEqual([]);
  });
});
