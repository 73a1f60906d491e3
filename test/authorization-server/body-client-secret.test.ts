import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from '../support/cli.js';
import { clientEndpointMetadata } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Portcullis offers `client_secret_basic` but not `client_secret_post`, so a
 * client secret in the form body never authenticates a client. The client
 * authentication throttle reads client ids from the Authorization header
 * only, which is safe only while a secret in the body is never compared.
 */

interface CreatedClient {
  client_id: string;
  client_secret: string;
}

const SECRET_IN_BODY = 'client_secret in the request body is not supported, send the client credentials in the Authorization header (client_secret_basic)';

let server: TestServer;
let service: CreatedClient;

beforeAll(async () => {
  server = await startTestServer();
  const result = await runCli(['clients', 'add', '--name', 'Service', '--json', '--data-dir', server.dataDir, '--confidential', '--grant', 'client_credentials', '--scope', 'orders:read']);
  expect(result.code, result.stderr).toBe(0);
  service = JSON.parse(result.stdout) as CreatedClient;
});

afterAll(async () => {
  await server.close();
});

/** Builds an openid-client configuration for the service that appends each response to `responses`. */
function configure(auth: client.ClientAuth, responses: Response[] = []): client.Configuration {
  const config = new client.Configuration(clientEndpointMetadata(server), service.client_id, undefined, auth);
  client.allowInsecureRequests(config);
  config[client.customFetch] = async (url, options) => {
    const response = await fetch(url, { method: options.method, headers: options.headers, body: options.body as RequestInit['body'] });
    responses.push(response.clone());
    return response;
  };
  return config;
}

const OPERATIONS: Array<[string, (config: client.Configuration) => Promise<unknown>]> = [
  ['token', (config) => client.clientCredentialsGrant(config, { scope: 'orders:read' })],
  ['introspection', (config) => client.tokenIntrospection(config, 'some-token')],
  ['revocation', (config) => client.tokenRevocation(config, 'some-token')],
  [
    'pushed authorization request',
    (config) =>
      client.buildAuthorizationUrlWithPAR(config, {
        redirect_uri: 'https://client.example.test/cb',
        scope: 'openid',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        code_challenge_method: 'S256',
      }),
  ],
];

/** Sends a token request with the client credentials in the form body, as `client_secret_post` does. */
async function postBodySecret(clientId: string, secret: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${server.issuer}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('client secret in the form body', () => {
  it.each(OPERATIONS)('rejects the right secret at %s', async (_endpoint, operation) => {
    const responses: Response[] = [];

    await expect(operation(configure(client.ClientSecretPost(service.client_secret), responses))).rejects.toThrow();

    expect(responses).toHaveLength(1);
    const response = responses[0] as Response;
    const body = (await response.json()) as Record<string, unknown>;
    expect(response.status).toBe(401);
    expect(body['error']).toBe('invalid_client');
    expect(body['error_description']).toBe(SECRET_IN_BODY);
  });

  it('names the problem for unknown clients', async () => {
    const unknown = await postBodySecret('no-such-client', 'some-secret');

    expect(unknown.status).toBe(401);
    expect(unknown.body['error']).toBe('invalid_client');
    expect(unknown.body['error_description']).toBe(SECRET_IN_BODY);
  });

  it('keeps parallel body secrets from guessing', async () => {
    const guesses = await Promise.all(Array.from({ length: 30 }, () => postBodySecret(service.client_id, 'wrong-secret')));
    for (const guess of guesses) {
      expect(guess.status).toBe(401);
      expect(guess.body['error_description']).toBe(SECRET_IN_BODY);
    }

    const right = await postBodySecret(service.client_id, service.client_secret);
    expect(right.status).toBe(401);
    expect(right.body['access_token']).toBeUndefined();

    const basic = await client.clientCredentialsGrant(configure(client.ClientSecretBasic(service.client_secret)), { scope: 'orders:read' });
    expect(typeof basic.access_token).toBe('string');
  });
});
