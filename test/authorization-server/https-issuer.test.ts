import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { runCli } from '../support/cli.js';
import { authorizationUrl } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { UserAgent, formEndingWith } from '../support/user-agent.js';

/**
 * An https issuer behind a proxy that ends TLS. Clients reach the issuer
 * over https, and the proxy forwards plain http, so the tests call the
 * server behind that proxy directly.
 */
const ISSUER = 'https://gw.example.test';

let server: TestServer;
let user: { username: string; password: string };

beforeAll(async () => {
  server = await startTestServer({ issuer: ISSUER });
  user = await createUser(server, 'tls_user');
});

afterAll(async () => {
  await server.close();
});

/** Sends requests for the issuer's origin to the server behind the proxy. */
const throughProxy: client.CustomFetch = (url, options) => fetch(url.replace(ISSUER, server.url), options as RequestInit);

function discoveryOptions(): client.DiscoveryRequestOptions {
  return { [client.customFetch]: throughProxy };
}

describe('https issuer behind a TLS proxy', () => {
  it('publishes https endpoints', async () => {
    const metadata = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;

    const urls = Object.entries(metadata).filter(([name]) => name.endsWith('_endpoint') || name === 'jwks_uri');
    expect(urls.length).toBeGreaterThan(5);
    for (const [name, value] of urls) {
      expect(value, name).toMatch(new RegExp(`^${ISSUER}/`));
    }
  });

  it('ignores forwarded host and scheme headers', async () => {
    const response = await fetch(`${server.url}/.well-known/openid-configuration`, {
      headers: { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'http' },
    });
    const metadata = (await response.json()) as { token_endpoint: string };

    expect(metadata.token_endpoint).toBe(`${ISSUER}/oauth/token`);
  });

  it('serves openid-client over https only', async () => {
    const created = await runCli(['clients', 'add', '--name', 'TLS service', '--json', '--confidential', '--grant', 'client_credentials', '--scope', 'orders:read', '--data-dir', server.dataDir]);
    expect(created.code, created.stderr).toBe(0);
    const service = JSON.parse(created.stdout) as { client_id: string; client_secret: string };

    const config = await client.discovery(new URL(ISSUER), service.client_id, undefined, client.ClientSecretBasic(service.client_secret), discoveryOptions());
    config[client.customFetch] = throughProxy;
    const tokens = await client.clientCredentialsGrant(config, { scope: 'orders:read' });

    expect(tokens.access_token).toBeTypeOf('string');
  });

  it('sets only Secure cookies during sign-in', async () => {
    const { cookies } = await signIn();

    const names = cookies.map((cookie) => cookie.slice(0, cookie.indexOf('=')));
    expect(names).toContain('__Host-portcullis_session');
    expect(names).toContain('_interaction');
    for (const cookie of cookies) {
      expect(cookie.toLowerCase(), cookie).toMatch(/;\s*secure(;|$)/);
    }
  });

  it('prefixes session and CSRF cookies with __Host-', async () => {
    const { cookies } = await signIn();

    const prefixed = cookies.filter((cookie) => /^__Host-portcullis_(session|csrf)(\.sig)?=/.test(cookie));
    expect(prefixed.map((cookie) => cookie.slice(0, cookie.indexOf('=')))).toEqual(
      expect.arrayContaining(['__Host-portcullis_session', '__Host-portcullis_session.sig', '__Host-portcullis_csrf']),
    );
    for (const cookie of prefixed) {
      expect(cookie, cookie).toMatch(/;\s*path=\/(;|$)/i);
      expect(cookie, cookie).not.toMatch(/;\s*domain=/i);
    }
  });

  it('ignores a session planted without the prefix', async () => {
    const { cookies } = await signIn();

    // A sibling subdomain can set any cookie on the issuer's host except a
    // __Host- one, so it plants the attacker's session cookies without it.
    const session = latestSessionCookies(cookies);
    const planted = [...session].map(([name, value]) => `${name.replace(/^__Host-/, '')}=${value}`).join('; ');
    const genuine = [...session].map(([name, value]) => `${name}=${value}`).join('; ');

    const silentWithPlanted = await silentAuthorization(planted);
    const silentWithGenuine = await silentAuthorization(genuine);

    expect(silentWithPlanted.searchParams.get('code')).toBeNull();
    expect(silentWithPlanted.searchParams.get('error')).toBe('login_required');
    expect(silentWithGenuine.searchParams.get('code')).toBeTruthy();
  });
  it('clears the prefixed session at sign-out', async () => {
    const { agent } = await signIn();

    const page = await agent.fetch('/oauth/logout');
    const form = formEndingWith(await page.text(), '/confirm');
    const signOut = await agent.fetch(new URL(form.action, ISSUER).pathname, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...form.fields, logout: 'yes' }),
    });

    const cleared = signOut.headers.getSetCookie().filter((cookie) => cookie.startsWith('__Host-portcullis_session='));
    expect(cleared.length).toBeGreaterThan(0);
    for (const cookie of cleared) {
      expect(cookie, cookie).toMatch(/expires=Thu, 01 Jan 1970/i);
      expect(cookie, cookie).toMatch(/;\s*secure(;|$)/i);
      expect(cookie, cookie).toMatch(/;\s*path=\/(;|$)/i);
    }
  });
});

/** Signs `user` in through the sign-in page and returns the user agent and every Set-Cookie line of the flow. */
async function signIn(): Promise<{ agent: UserAgent; cookies: string[] }> {
  const agent = new UserAgent(server.url);
  const cookies: string[] = [];
  const record = (response: Response) => cookies.push(...response.headers.getSetCookie());

  const start = await agent.fetch(authorizationUrl(server, { scope: 'openid' }).replace(ISSUER, server.url));
  record(start);
  const page = await agent.fetch(new URL(start.headers.get('location') ?? '', server.url).pathname);
  record(page);
  const form = formEndingWith(await page.text(), '/login');
  const login = await agent.fetch(form.action, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...form.fields, username: user.username, password: user.password }),
  });
  record(login);
  const resume = await agent.fetch(new URL(login.headers.get('location') ?? '').pathname);
  record(resume);
  const consentPage = await agent.fetch(resume.headers.get('location') ?? '');
  record(consentPage);
  const consent = formEndingWith(await consentPage.text(), '/confirm');
  const confirmed = await agent.fetch(consent.action, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(consent.fields),
  });
  record(confirmed);
  const finish = await agent.fetch(new URL(confirmed.headers.get('location') ?? '').pathname);
  record(finish);
  expect(finish.headers.get('location')).toMatch(/[?&]code=/);

  return { agent, cookies };
}

/** Returns the last value that the Set-Cookie lines gave each session cookie, since sign-in replaces the session. */
function latestSessionCookies(setCookies: string[]): Map<string, string> {
  const latest = new Map<string, string>();
  for (const line of setCookies) {
    const pair = line.slice(0, line.indexOf(';'));
    const name = pair.slice(0, pair.indexOf('='));
    if (name.includes('session')) {
      latest.set(name, pair.slice(name.length + 1));
    }
  }
  return latest;
}

/** Sends an authorization request with `prompt=none` and the given Cookie header, and returns the redirect it gets. */
async function silentAuthorization(cookie: string): Promise<URL> {
  const response = await fetch(authorizationUrl(server, { scope: 'openid', prompt: 'none' }).replace(ISSUER, server.url), {
    headers: { cookie },
    redirect: 'manual',
  });
  return new URL(response.headers.get('location') ?? '', ISSUER);
}
