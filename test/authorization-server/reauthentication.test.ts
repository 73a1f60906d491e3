import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { runCli } from '../support/cli.js';
import { authorize, pkceAuthorizationRequest, publicClient } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { UserAgent, formEndingWith } from '../support/user-agent.js';

/**
 * A client asks for a fresh sign-in with `prompt=login` or `max_age`. The
 * user signs in once and consents once, after which the browser returns to
 * the client, also when consent is asked on every request.
 */

const NATIVE_REDIRECT_URI = 'http://127.0.0.1/callback';

/** More pages than any of these flows needs, so a flow that loops stops here. */
const MAX_PAGES = 6;

let server: TestServer;
let user: { username: string; password: string; id: string };
let nativeClientId: string;

beforeAll(async () => {
  server = await startTestServer();
  user = await createUser(server, 'reauth_user');
  const created = await runCli(['clients', 'add', '--name', 'Reauthentication app', '--public', '--native', '--redirect-uri', NATIVE_REDIRECT_URI, '--json', '--data-dir', server.dataDir]);
  expect(created.code, created.stderr).toBe(0);
  nativeClientId = (JSON.parse(created.stdout) as { client_id: string }).client_id;
});

afterAll(async () => {
  await server.close();
});

interface Walk {
  /** The pages shown, in order: `sign-in` or `consent`. */
  pages: string[];
  /** The client's callback, or undefined when the walk stopped before it. */
  callbackUrl: URL | undefined;
}

/** Follows an authorization request in `agent`, signing in and allowing each page, until the redirect URI. */
async function walk(agent: UserAgent, url: URL, redirectUri: string): Promise<Walk> {
  const pages: string[] = [];
  let page = await agent.follow(url.href, redirectUri);
  while (pages.length < MAX_PAGES && !page.url.startsWith(redirectUri)) {
    const html = await page.response.text();
    if (html.includes('/login"')) {
      pages.push('sign-in');
      page = await agent.submit(formEndingWith(html, '/login'), { username: user.username, password: user.password }, redirectUri);
    } else if (html.includes('/confirm"')) {
      pages.push('consent');
      page = await agent.submit(formEndingWith(html, '/confirm'), {}, redirectUri);
    } else {
      throw new Error(`unexpected page (${page.response.status}) at ${page.url}`);
    }
  }
  return { pages, callbackUrl: page.url.startsWith(redirectUri) ? new URL(page.url) : undefined };
}

/** Runs an authorization request with `parameters` in a fresh browser and redeems its code. */
async function reauthenticate(config: client.Configuration, redirectUri: string, parameters: Record<string, string>) {
  const { url, verifier, state } = await pkceAuthorizationRequest(config, redirectUri, parameters);

  const startedAt = Math.floor(Date.now() / 1000);
  const { pages, callbackUrl } = await walk(new UserAgent(server.url), url, redirectUri);
  expect(callbackUrl, `pages shown: ${pages.join(', ')}`).toBeDefined();
  const tokens = await client.authorizationCodeGrant(config, callbackUrl as URL, { pkceCodeVerifier: verifier, expectedState: state });
  return { pages, claims: tokens.claims(), startedAt };
}

describe('sign-in requested again by the client', () => {
  it.each([
    ['prompt=login', { prompt: 'login' }],
    ['prompt=login consent', { prompt: 'login consent' }],
    ['max_age=0', { max_age: '0' }],
  ])('asks once with %s', async (_name, parameters) => {
    const { pages, claims, startedAt } = await reauthenticate(await publicClient(server), server.demoRedirectUri, parameters);

    expect(pages).toEqual(['sign-in', 'consent']);
    expect(claims?.sub).toBe(user.id);
    expect(claims?.auth_time).toBeGreaterThanOrEqual(startedAt);
  });

  it('asks once with max_age for a native app', async () => {
    const config = await publicClient(server, nativeClientId);
    const redirectUri = 'http://127.0.0.1:43817/callback';

    const { pages, claims } = await reauthenticate(config, redirectUri, { max_age: '0' });

    expect(pages).toEqual(['sign-in', 'consent']);
    expect(claims?.sub).toBe(user.id);
  });

  it('signs in again in a signed-in browser', async () => {
    const config = await publicClient(server);
    const { agent } = await authorize(server, config, { ...user, scope: 'openid orders:read' });
    const { url } = await pkceAuthorizationRequest(config, server.demoRedirectUri, { prompt: 'login' });

    const { pages, callbackUrl } = await walk(agent, url, server.demoRedirectUri);

    expect(pages).toEqual(['sign-in']);
    expect(callbackUrl?.searchParams.get('code')).toBeTruthy();
  });
});
