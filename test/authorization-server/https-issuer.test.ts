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
    const resumeUrl = login.headers.get('location') ?? '';
    expect(resumeUrl).toMatch(new RegExp(`^${ISSUER}/oauth/authorize/`));
    const resume = await agent.fetch(new URL(resumeUrl).pathname);
    record(resume);

    const names = cookies.map((cookie) => cookie.slice(0, cookie.indexOf('=')));
    expect(names).toContain('_session');
    expect(names).toContain('_interaction');
    for (const cookie of cookies) {
      expect(cookie.toLowerCase(), cookie).toMatch(/;\s*secure(;|$)/);
    }
  });
});
