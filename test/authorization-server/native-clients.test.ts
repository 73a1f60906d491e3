import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { runCli, type CliResult } from '../support/cli.js';
import { authorizationUrl, authorize, callApi, publicClient } from '../support/oauth.js';
import { freePort, startTestServer, type TestServer } from '../support/server.js';
import { formEndingWith } from '../support/user-agent.js';

/**
 * Native apps (RFC 8252) receive the authorization response on a loopback
 * port that they pick for each request, so their registered loopback
 * redirect URI matches with any port, and with nothing else changed. Their
 * users consent to every request.
 */

const NATIVE_REDIRECT_URI = 'http://127.0.0.1/callback';

let server: TestServer;
let user: { username: string; password: string };
let nativeClientId: string;

async function addClient(...args: string[]): Promise<CliResult> {
  return runCli(['clients', 'add', '--name', 'Native test app', '--json', '--data-dir', server.dataDir, ...args]);
}

beforeAll(async () => {
  server = await startTestServer();
  user = await createUser(server, 'native_user');
  const result = await addClient('--public', '--native', '--redirect-uri', NATIVE_REDIRECT_URI);
  expect(result.code, result.stderr).toBe(0);
  nativeClientId = (JSON.parse(result.stdout) as { client_id: string }).client_id;
});

afterAll(async () => {
  await server.close();
});

/** Expects the authorization server's own error page: no redirect, no code. */
async function expectErrorPage(redirectUri: string, clientId = nativeClientId): Promise<void> {
  const response = await fetch(authorizationUrl(server, { client_id: clientId, redirect_uri: redirectUri }), { redirect: 'manual' });

  expect(response.status, redirectUri).toBe(400);
  expect(response.headers.get('location'), redirectUri).toBeNull();
}

/** Builds a further authorization request with PKCE, as the app sends it in a browser that has signed in already. */
async function authorizationRequest(config: client.Configuration, redirectUri: string, scope: string): Promise<{ url: URL; verifier: string }> {
  const verifier = client.randomPKCECodeVerifier();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  return { url, verifier };
}

describe('native client', () => {
  it('accepts any loopback port', async () => {
    const config = await publicClient(server, nativeClientId);
    const redirectUri = `http://127.0.0.1:${await freePort()}/callback`;

    const { callbackUrl, codeVerifier, state } = await authorize(server, config, { ...user, redirectUri });
    const tokens = await client.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: codeVerifier, expectedState: state });

    expect(callbackUrl.origin).toBe(new URL(redirectUri).origin);
    expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(200);
  });

  it('asks for consent each time', async () => {
    const config = await publicClient(server, nativeClientId);
    const redirectUri = `http://127.0.0.1:${await freePort()}/callback`;
    const first = await authorize(server, config, { ...user, redirectUri, scope: 'openid orders:read' });
    const { url: again } = await authorizationRequest(config, redirectUri, 'openid orders:read');

    const page = await first.agent.follow(again.href, redirectUri);
    const html = await page.response.text();
    again.searchParams.set('prompt', 'none');
    const silent = await first.agent.follow(again.href, redirectUri);

    // The server cannot tell the app from another program on the device (RFC 8252 section 8.6).
    expect(html).toContain('/confirm"');
    expect(html).toContain('<code>openid</code>');
    expect(html).toContain('<code>orders:read</code>');
    expect(new URL(silent.url).searchParams.get('error')).toBe('interaction_required');
  });

  it('lists granted and new scopes', async () => {
    const config = await publicClient(server, nativeClientId);
    const redirectUri = `http://127.0.0.1:${await freePort()}/callback`;
    const first = await authorize(server, config, { ...user, redirectUri, scope: 'openid orders:read' });
    const { url: wider, verifier } = await authorizationRequest(config, redirectUri, 'openid orders:read orders:write');

    const page = await first.agent.follow(wider.href, redirectUri);
    const html = await page.response.text();
    const allowed = await first.agent.submit(formEndingWith(html, '/confirm'), {}, redirectUri);
    const tokens = await client.authorizationCodeGrant(config, new URL(allowed.url), { pkceCodeVerifier: verifier });

    const listed = [...html.matchAll(/<code>([^<]*)<\/code>/g)].map((match) => match[1]);
    expect(listed).toEqual(['openid', 'orders:read', 'orders:write']);
    expect(tokens.scope?.split(' ')).toEqual(expect.arrayContaining(['orders:read', 'orders:write']));
  });

  it.each([
    ['another path', 'http://127.0.0.1:5000/other'],
    ['a trailing slash', 'http://127.0.0.1:5000/callback/'],
    ['another loopback address', 'http://[::1]:5000/callback'],
    ['localhost', 'http://localhost:5000/callback'],
    ['https', 'https://127.0.0.1:5000/callback'],
    ['a query', 'http://127.0.0.1:5000/callback?next=x'],
  ])('rejects %s', async (_name, redirectUri) => {
    await expectErrorPage(redirectUri);
  });

  it.each(['http://localhost:80@evil.example/callback', 'http://127.0.0.1:8090%25@evil.example/callback', 'http://user@127.0.0.1:8090/callback', 'http://127.0.0.1:8090@evil.example/callback'])(
    'rejects user info in %s',
    async (redirectUri) => {
      await expectErrorPage(redirectUri);
    },
  );

  it('leaves web clients their port', async () => {
    const port = new URL(server.demoRedirectUri).port;
    const otherPort = server.demoRedirectUri.replace(`:${port}/`, `:${Number(port) + 1}/`);

    await expectErrorPage(otherPort, server.demoClientId);
  });
});

describe('registering a native client', () => {
  it('requires a public client', async () => {
    const result = await addClient('--confidential', '--native', '--redirect-uri', NATIVE_REDIRECT_URI);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--native applies only to --public clients');
  });

  it.each([
    ['localhost', 'http://localhost/callback', 'names 127.0.0.1 or [::1]'],
    ['https on loopback', 'https://127.0.0.1/callback', 'receives loopback redirects over http'],
    ['http on a public host', 'http://app.example.test/callback', 'not loopback'],
  ])('rejects %s', async (_name, uri, message) => {
    const result = await addClient('--public', '--native', '--redirect-uri', uri);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(message);
  });

  it('lists the client as native', async () => {
    const listed = await runCli(['clients', 'list', '--json', '--data-dir', server.dataDir]);
    const clients = JSON.parse(listed.stdout) as Array<{ clientId: string; applicationType: string }>;

    expect(clients.find((entry) => entry.clientId === nativeClientId)?.applicationType).toBe('native');
    expect(clients.find((entry) => entry.clientId === server.demoClientId)?.applicationType).toBe('web');
  });
});
