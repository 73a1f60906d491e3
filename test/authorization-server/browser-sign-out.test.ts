import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { launchChromium } from '../support/browser.js';
import { authorizationUrl } from '../support/oauth.js';
import { freePort, startTestServer, type TestServer } from '../support/server.js';

/**
 * Sign-out in Chromium, with Portcullis on a subdomain next to the apps of
 * the same organization, as on auth.example.com beside app.example.com.
 * Chromium resolves every name under localhost to the loopback address.
 */

const APP_HOST = 'app.example.localhost';

let server: TestServer;
let user: { username: string; password: string };
let browser: Browser;

beforeAll(async () => {
  const port = await freePort();
  server = await startTestServer({ port, issuer: `http://auth.example.localhost:${port}` });
  user = await createUser(server, 'leaving_user');
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/** Signs the test user in on the sign-in page that `page` shows, and approves the consent page. */
async function signInAndConsent(page: Page): Promise<void> {
  const signInUrl = page.url();
  await page.fill('#username', user.username);
  await page.fill('#password', user.password);
  await Promise.all([page.waitForURL((url) => url.href !== signInUrl), page.click('form[action$="/login"] button[type=submit]')]);
  await Promise.all([page.waitForURL(`${server.demoRedirectUri}**`), page.click('form[action$="/confirm"] button[type=submit]')]);
}

describe('sign-out in Chromium', () => {
  it('keeps the cookies of sibling apps', async () => {
    const context = await browser.newContext();
    await context.addCookies([{ name: 'app_session', value: 'signed-in', domain: APP_HOST, path: '/', httpOnly: true }]);
    await context.route(`${server.demoRedirectUri}**`, (route) => route.fulfill({ status: 200, contentType: 'text/plain', body: 'callback' }));
    const page = await context.newPage();

    // The browser reaches the server under the issuer's name, as users do.
    await page.goto(authorizationUrl({ ...server, url: server.issuer }, { scope: 'openid' }));
    await signInAndConsent(page);
    expect((await context.cookies(server.issuer)).map((cookie) => cookie.name)).toContain('_session');

    await page.goto(`${server.issuer}/oauth/logout`);
    await Promise.all([page.waitForURL('**/oauth/logout/success'), page.click('button[name=logout]')]);
    expect(await page.textContent('main')).toContain('You are signed out of Portcullis on this browser.');

    expect((await context.cookies(server.issuer)).map((cookie) => cookie.name)).not.toContain('_session');
    expect((await context.cookies(`http://${APP_HOST}`)).map((cookie) => cookie.name)).toEqual(['app_session']);
    await context.close();
  });

  it('keeps a user who stays signed in', async () => {
    const context = await browser.newContext();
    await context.route(`${server.demoRedirectUri}**`, (route) => route.fulfill({ status: 200, contentType: 'text/plain', body: 'callback' }));
    const page = await context.newPage();
    await page.goto(authorizationUrl({ ...server, url: server.issuer }, { scope: 'openid' }));
    await signInAndConsent(page);

    await page.goto(`${server.issuer}/oauth/logout`);
    const [response] = await Promise.all([page.waitForResponse('**/oauth/logout/success'), page.click('button.secondary')]);
    await page.waitForURL('**/oauth/logout/success');

    expect(await page.textContent('main')).toContain('You are still signed in to Portcullis on this browser.');
    expect(await page.textContent('main')).not.toContain('signed out');
    expect(response.headers()['clear-site-data']).toBeUndefined();
    expect((await context.cookies(server.issuer)).map((cookie) => cookie.name)).toContain('_session');
    await context.close();
  });
});
