import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import * as client from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { launchChromium } from '../support/browser.js';
import { pkceAuthorizationRequest, publicClient } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Sign-in in Chromium, starting from a client app on another site, as users
 * arrive: the authorization request is a cross-site navigation, on which
 * the browser withholds SameSite=Strict cookies.
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
