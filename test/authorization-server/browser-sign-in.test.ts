import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import * as client from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { launchChromium } from '../support/browser.js';
import { runCli } from '../support/cli.js';
import { pkceAuthorizationRequest, publicClient } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Sign-in in Chromium, where the browser applies what other clients
 * ignore: SameSite cookies, withheld on the cross-site navigation from a
 * client app to the authorization server, and the pages' CSP form-action,
 * which decides whether the redirect after a form post may reach the app.
 */

let server: TestServer;
let user: { username: string; password: string; id: string };
let config: client.Configuration;
let browser: Browser;
let clientApp: Server;
let clientAppOrigin: string;

/** Authorization requests by path, so that the client app's page can link to each. */
const authorizationRequests = new Map<string, { url: URL; verifier: string; state: string }>();

beforeAll(async () => {
  server = await startTestServer();
  user = await createUser(server, 'browser_user');
  config = await publicClient(server);
  browser = await launchChromium();

  clientApp = createServer((request, response) => {
    const target = authorizationRequests.get(request.url ?? '');
    response.writeHead(target === undefined ? 404 : 200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(target === undefined ? '' : `<a id="sign-in" href="${target.url.href.replaceAll('&', '&amp;')}">Sign in</a>`);
  });
  await new Promise<void>((resolve) => clientApp.listen(0, '127.0.0.1', resolve));
  // The server is the client app's site under the name localhost, which is
  // another site than the authorization server's 127.0.0.1.
  clientAppOrigin = `http://localhost:${(clientApp.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => clientApp?.close(resolve));
  await server?.close();
});

/** Opens the client app in a new tab of `context` and follows its sign-in link to the authorization server. */
async function startSignIn(context: BrowserContext, path: string): Promise<Page> {
  authorizationRequests.set(path, await pkceAuthorizationRequest(config, server.demoRedirectUri));

  const page = await context.newPage();
  await page.goto(`${clientAppOrigin}${path}`);
  await Promise.all([page.waitForURL(/\/interaction\//), page.click('#sign-in')]);
  return page;
}

describe('sign-in from another site in Chromium', () => {
  it('accepts the first of two open sign-in tabs', async () => {
    const context = await browser.newContext();
    await context.route(`${server.demoRedirectUri}**`, (route) => route.fulfill({ status: 200, contentType: 'text/plain', body: 'callback' }));
    const first = await startSignIn(context, '/first');
    await startSignIn(context, '/second');

    const signInUrl = first.url();
    await first.fill('#username', user.username);
    await first.fill('#password', user.password);
    await Promise.all([first.waitForURL((url) => url.href !== signInUrl), first.click('form[action$="/login"] button[type=submit]')]);
    expect(await first.title()).toBe('Authorize access · Portcullis');

    await Promise.all([first.waitForURL(`${server.demoRedirectUri}**`), first.click('form[action$="/confirm"] button[type=submit]')]);
    const { verifier, state } = authorizationRequests.get('/first') ?? { verifier: '', state: '' };
    const tokens = await client.authorizationCodeGrant(config, new URL(first.url()), { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.claims()?.sub).toBe(user.id);
    await context.close();
  });
});

describe('native app sign-in in Chromium', () => {
  let nativeConfig: client.Configuration;

  beforeAll(async () => {
    const created = await runCli(['clients', 'add', '--name', 'IPv6 loopback app', '--public', '--native', '--redirect-uri', 'http://[::1]/callback', '--json', '--data-dir', server.dataDir]);
    expect(created.code, created.stderr).toBe(0);
    nativeConfig = await publicClient(server, (JSON.parse(created.stdout) as { client_id: string }).client_id);
  });

  it('redirects to an IPv6 loopback URI', async () => {
    // The app listens on the IPv6 loopback address, on a port it picked.
    const app = createServer((_request, response) => response.end('callback'));
    await new Promise<void>((resolve) => app.listen(0, '::1', resolve));
    const redirectUri = `http://[::1]:${(app.address() as AddressInfo).port}/callback`;
    const { url, verifier, state } = await pkceAuthorizationRequest(nativeConfig, redirectUri);
    const context = await browser.newContext();
    const page = await context.newPage();

    await page.goto(url.href);
    const signInUrl = page.url();
    await page.fill('#username', user.username);
    await page.fill('#password', user.password);
    await Promise.all([page.waitForURL((current) => current.href !== signInUrl), page.click('form[action$="/login"] button[type=submit]')]);
    // A function, because in a glob pattern the brackets of [::1] are a character class.
    const toApp = (target: URL) => target.href.startsWith(redirectUri);
    await Promise.all([page.waitForURL(toApp, { timeout: 5000 }), page.click('form[action$="/confirm"] button[type=submit]')]);

    const tokens = await client.authorizationCodeGrant(nativeConfig, new URL(page.url()), { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.claims()?.sub).toBe(user.id);
    await context.close();
    await new Promise((resolve) => app.close(resolve));
  });
});
