import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from '../support/cli.js';
import { PKCE_CHALLENGE } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

const REDIRECT_URI = 'https://client.example.test/cb';

/**
 * Failed client authentication at the pushed authorization request endpoint,
 * which RFC 9126 section 2.3 gives the token endpoint's errors: 401
 * `invalid_client`, with a Basic challenge where Basic was the method to use.
 */
describe('pushed authorization request client authentication', () => {
  let server: TestServer;
  let webClient: { client_id: string; client_secret: string };

  beforeAll(async () => {
    server = await startTestServer();
    const result = await runCli(['clients', 'add', '--name', 'PAR client', '--json', '--data-dir', server.dataDir, '--confidential', '--redirect-uri', REDIRECT_URI]);
    expect(result.code, result.stderr).toBe(0);
    webClient = JSON.parse(result.stdout) as { client_id: string; client_secret: string };
  });

  afterAll(async () => {
    await server?.close();
  });

  function basic(clientId: string, secret: string): string {
    return `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`;
  }

  async function push(extra: Record<string, string>, authorization?: string): Promise<Response> {
    const body = new URLSearchParams({
      response_type: 'code',
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      code_challenge: PKCE_CHALLENGE,
      code_challenge_method: 'S256',
      ...extra,
    });
    return fetch(`${server.url}/oauth/par`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization === undefined ? {} : { authorization }) },
      body,
    });
  }

  it('rejects failed authentication with 401', async () => {
    const cases: Array<[string, Record<string, string>, string | undefined]> = [
      ['no client authentication', {}, undefined],
      ['an empty secret', { client_id: webClient.client_id }, basic(webClient.client_id, '')],
      ['a malformed Basic value', { client_id: webClient.client_id }, 'Basic %%%'],
      ['another scheme', { client_id: webClient.client_id }, 'Bearer abc'],
      ['a confidential client without a secret', { client_id: webClient.client_id }, undefined],
      ['a wrong secret', { client_id: webClient.client_id }, basic(webClient.client_id, 'wrong')],
    ];

    for (const [label, extra, authorization] of cases) {
      const response = await push(extra, authorization);

      expect(response.status, label).toBe(401);
      expect(((await response.json()) as { error?: string }).error, label).toBe('invalid_client');
      expect(response.headers.get('www-authenticate'), label).toMatch(/^Basic realm=/);
    }
  });

  it('accepts the right secret', async () => {
    const response = await push({ client_id: webClient.client_id }, basic(webClient.client_id, webClient.client_secret));

    expect(response.status).toBe(201);
    expect(((await response.json()) as { request_uri?: string }).request_uri).toMatch(/^urn:ietf:params:oauth:request_uri:/);
  });
});
