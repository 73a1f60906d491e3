import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

function callback(query: string): Promise<Response> {
  return fetch(`${server.url}/demo/callback?${query}`);
}

describe('demo callback page', () => {
  it('reports an issued code', async () => {
    const response = await callback('code=abc&state=xyz');

    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.text()).toMatch(/^The authorization server issued an authorization code\.\n/);
  });

  it('quotes an OAuth error code', async () => {
    const response = await callback('error=access_denied&error_description=The+user+denied+the+request.');

    const text = await response.text();

    expect(response.status).toBe(200);
    expect(text).toMatch(/^The authorization server returned the error 'access_denied'\.\n/);
    expect(text).not.toContain('denied the request');
  });

  it.each([
    ['text in the error', 'error=x%27.%0AYour+account+is+locked.+Call+555-0100', "The query parameter 'error' is not an OAuth error code"],
    ['markup in the error', 'error=%3Cscript%3E', "The query parameter 'error' is not an OAuth error code"],
    ['a repeated error', 'error=access_denied&error=server_error', "The query parameter 'error' is repeated"],
    ['a repeated code', 'code=a&code=b', "The query parameter 'code' is repeated"],
    ['an error beside a code', 'code=a&error=access_denied&error=x', "The query parameter 'error' is repeated"],
    ['no code or error', 'state=xyz', "neither a 'code' nor an 'error' query parameter"],
    ['an empty code', 'code=', "neither a 'code' nor an 'error' query parameter"],
  ])('rejects %s', async (_case, query, detail) => {
    const response = await callback(query);
    const problem = (await response.json()) as { code: string; detail: string };

    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(problem.code).toBe('invalid_request');
    expect(problem.detail).toContain(detail);
  });
});
