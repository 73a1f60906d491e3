import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { runCli, type CliResult } from '../support/cli.js';
import { authorizationUrl, authorize, callApi, publicClient } from '../support/oauth.js';
import { freePort, startTestServer, type TestServer } from '../support/server.js';
import { UserAgent, formEndingWith } from '../support/user-agent.js';

/**
 * Native apps (RFC 8252) receive the authorization response on a loopback
 * port that they pick for each request, so their registered loopback
 * redirect URI matches with any port, and with nothing else changed. Other
 * apps receive it on a URI with a private-use scheme that they register
 * with the operating system, matched byte for byte. Their users consent to
 * every request.
 */

const NATIVE_REDIRECT_URI = 'http://127.0.0.1/callback';
const PRIVATE_USE_REDIRECT_URI = 'com.example.app:/oauth2redirect';

let server: TestServer;
let user: { username: string; password: string };
let nativeClientId: string;
let privateUseClientId: string;

async function addClient(...args: string[]): Promise<CliResult> {
  return runCli(['clients', 'add', '--name', 'Native test app', '--json', '--data-dir', server.dataDir, ...args]);
}

beforeAll(async () => {
  server = await startTestServer();
  user = await createUser(server, 'native_user');
  const result = await addClient('--public', '--native', '--redirect-uri', NATIVE_REDIRECT_URI);
  expect(result.code, result.stderr).toBe(0);
  nativeClientId = (JSON.parse(result.stdout) as { client_id: string }).client_id;

  const privateUse = await addClient('--public', '--native', '--redirect-uri', PRIVATE_USE_REDIRECT_URI);
  expect(privateUse.code, privateUse.stderr).toBe(0);
  privateUseClientId = (JSON.parse(privateUse.stdout) as { client_id: string }).client_id;
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

describe('native client with a private-use scheme', () => {
  it('redirects to the app with a code', async () => {
    const config = await publicClient(server, privateUseClientId);

    const { redirect, codeVerifier, state } = await authorize(server, config, { ...user, redirectUri: PRIVATE_USE_REDIRECT_URI });
    const location = redirect.headers.get('location') ?? '';
    const params = new URL(location).searchParams;

    expect(redirect.status).toBe(303);
    expect(location.startsWith(`${PRIVATE_USE_REDIRECT_URI}?`), location).toBe(true);
    expect(params.get('code')).toMatch(/\S/);
    expect(params.get('state')).toBe(state);
    expect(params.get('iss')).toBe(server.issuer);

    const tokens = await client.authorizationCodeGrant(config, new URL(location), { pkceCodeVerifier: codeVerifier, expectedState: state });

    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.id_token).toBeDefined();
    expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(200);
  });

  it('rejects silent authorization', async () => {
    const config = await publicClient(server, privateUseClientId);
    const first = await authorize(server, config, { ...user, redirectUri: PRIVATE_USE_REDIRECT_URI, scope: 'openid orders:read' });
    const { url: again } = await authorizationRequest(config, PRIVATE_USE_REDIRECT_URI, 'openid orders:read');
    again.searchParams.set('prompt', 'none');

    const silent = await first.agent.follow(again.href, PRIVATE_USE_REDIRECT_URI);

    // Any program on the device can register the same scheme (RFC 8252 section 8.6).
    expect(silent.url.startsWith(`${PRIVATE_USE_REDIRECT_URI}?`), silent.url).toBe(true);
    expect(new URL(silent.url).searchParams.get('error')).toBe('interaction_required');
  });

  it('allows the scheme as a form target', async () => {
    const config = await publicClient(server, privateUseClientId);
    const { url } = await authorizationRequest(config, PRIVATE_USE_REDIRECT_URI, 'openid');

    const page = await new UserAgent(server.url).follow(url.href, PRIVATE_USE_REDIRECT_URI);

    // The sign-in and consent forms end in a redirect to the app, which CSP form-action governs.
    expect(page.response.status).toBe(200);
    expect(page.response.headers.get('content-security-policy')).toContain("form-action 'self' com.example.app:;");
  });

  it.each([
    ['another path', 'com.example.app:/other'],
    ['another scheme', 'com.example.other:/oauth2redirect'],
    ['a trailing slash', 'com.example.app:/oauth2redirect/'],
    ['an authority', 'com.example.app://oauth2redirect'],
    ['an upper-case scheme', 'Com.Example.App:/oauth2redirect'],
    ['a query', 'com.example.app:/oauth2redirect?next=x'],
    ['a loopback URI', 'http://127.0.0.1:5000/oauth2redirect'],
  ])('rejects %s', async (_name, redirectUri) => {
    await expectErrorPage(redirectUri, privateUseClientId);
  });

  it('is not open to web clients', async () => {
    await expectErrorPage(PRIVATE_USE_REDIRECT_URI, server.demoClientId);
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

  it('registers a private-use scheme', async () => {
    const result = await addClient('--public', '--native', '--redirect-uri', 'com.example.app:/oauth2redirect/example-provider');
    const added = JSON.parse(result.stdout) as { client_id: string; application_type: string; redirect_uris: string[] };
    const listed = await runCli(['clients', 'list', '--json', '--data-dir', server.dataDir]);
    const clients = JSON.parse(listed.stdout) as Array<{ clientId: string; redirectUris: string[] }>;

    expect(result.code, result.stderr).toBe(0);
    expect(added.application_type).toBe('native');
    expect(added.redirect_uris).toEqual(['com.example.app:/oauth2redirect/example-provider']);
    expect(clients.find((entry) => entry.clientId === added.client_id)?.redirectUris).toEqual(['com.example.app:/oauth2redirect/example-provider']);
  });

  it.each([
    ['a scheme without a period', 'myapp:/callback', "the scheme 'myapp', which is not a domain name in reverse order"],
    ['the javascript scheme', 'javascript:alert(1)', 'uses the javascript scheme'],
    ['an authority', 'com.example.app://callback', "as 'com.example.app:/callback'"],
    ['a fragment', 'com.example.app:/callback#top', 'must not contain a fragment'],
  ])('rejects %s', async (_name, uri, message) => {
    const result = await addClient('--public', '--native', '--redirect-uri', uri);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`--redirect-uri '${uri}'`);
    expect(result.stderr).toContain(message);
  });

  it('rejects a private-use scheme for a web client', async () => {
    const result = await addClient('--public', '--redirect-uri', PRIVATE_USE_REDIRECT_URI);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('a private-use URI scheme is accepted only for native app clients');
  });

  it('lists the client as native', async () => {
    const listed = await runCli(['clients', 'list', '--json', '--data-dir', server.dataDir]);
    const clients = JSON.parse(listed.stdout) as Array<{ clientId: string; applicationType: string }>;

    expect(clients.find((entry) => entry.clientId === nativeClientId)?.applicationType).toBe('native');
    expect(clients.find((entry) => entry.clientId === server.demoClientId)?.applicationType).toBe('web');
  });
});
