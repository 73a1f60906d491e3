import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { runCli } from '../support/cli.js';
import { authorizationUrl, authorize, obtainTokens, publicClient } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { UserAgent, formEndingWith, parseForms } from '../support/user-agent.js';

/**
 * Attacks on the browser side of the authorization server and on the
 * parts of the protocol that the other attack tests leave out: mix-up,
 * session fixation, cross-site form posts, sign-out redirects, pushed
 * request replay, silent scope upgrades and cacheable responses.
 */

let server: TestServer;
let config: client.Configuration;
let user: { username: string; password: string; id: string };

beforeAll(async () => {
  server = await startTestServer();
  config = await publicClient(server);
  user = await createUser(server, 'session_attack_user');
});

afterAll(async () => {
  await server.close();
});

function formPost(agent: UserAgent, action: string, fields: Record<string, string>): Promise<Response> {
  return agent.fetch(action, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields),
  });
}

/** Signs in and consents in `agent` until the redirect to the demo client's callback. */
async function completeSignIn(agent: UserAgent, url: string): Promise<URL> {
  let page = await agent.follow(url, server.demoRedirectUri);
  for (let step = 0; step < 3 && !page.url.startsWith(server.demoRedirectUri); step += 1) {
    const html = await page.response.text();
    page = html.includes('/login"')
      ? await agent.submit(formEndingWith(html, '/login'), { username: user.username, password: user.password }, server.demoRedirectUri)
      : await agent.submit(formEndingWith(html, '/confirm'), {}, server.demoRedirectUri);
  }
  return new URL(page.url);
}

describe('mix-up between authorization servers', () => {
  it.each([
    ['an unsupported response type', { response_type: 'token' }, ''],
    ['an unknown resource', { resource: 'https://other.example/api' }, ''],
    ['prompt=none without a session', { prompt: 'none' }, ''],
    ['a duplicated parameter', {}, '&scope=admin'],
  ])('sends iss with the error for %s', async (_name, params, appended) => {
    const response = await fetch(authorizationUrl(server, params) + appended, { redirect: 'manual' });
    const location = new URL(response.headers.get('location') ?? '', server.url);
    const returned = new URLSearchParams(location.hash === '' ? location.search : location.hash.slice(1));

    expect(location.href.startsWith(server.demoRedirectUri)).toBe(true);
    expect(returned.get('error')).toBeTruthy();
    expect(returned.get('iss')).toBe(server.issuer);
    expect(returned.get('state')).toBe('state-1');
  });

  it('sends iss with a form_post response', async () => {
    const agent = new UserAgent(server.url);
    let page = await agent.follow(authorizationUrl(server, { response_mode: 'form_post', scope: 'openid' }));
    page = await agent.submit(formEndingWith(await page.response.text(), '/login'), { username: user.username, password: user.password });
    let html = await page.response.text();
    if (html.includes('/confirm"')) {
      page = await agent.submit(formEndingWith(html, '/confirm'), {});
      html = await page.response.text();
    }

    const [callback] = parseForms(html);
    expect(callback?.action).toBe(server.demoRedirectUri);
    expect(callback?.fields['iss']).toBe(server.issuer);
    expect(callback?.fields['code']).toBeTruthy();
  });
});

describe('session fixation at sign-in', () => {
  it('issues a new session id at sign-in', async () => {
    const agent = new UserAgent(server.url);
    const anonymous = await agent.fetch('/oauth/logout');
    const planted = anonymous.headers.getSetCookie().find((cookie) => cookie.startsWith('_session='));
    expect(planted).toBeDefined();

    const { redirect } = await authorize(server, config, { ...user, scope: 'openid', agent });

    const issued = redirect.headers.getSetCookie().find((cookie) => cookie.startsWith('_session='));
    expect(issued).toBeDefined();
    expect(issued?.split(';')[0]).not.toBe(planted?.split(';')[0]);
  });
});

describe('cross-site form posts', () => {
  it('rejects a sign-in form from another browser', async () => {
    const victim = new UserAgent(server.url);
    const page = await victim.follow(authorizationUrl(server, { scope: 'openid' }));
    const form = formEndingWith(await page.response.text(), '/login');

    const attacker = new UserAgent(server.url);
    const response = await formPost(attacker, form.action, { ...form.fields, username: user.username, password: user.password });

    expect(response.status).toBe(403);
    expect(response.headers.get('location')).toBeNull();
  });

  it('rejects a sign-out without its token', async () => {
    const { agent } = await authorize(server, config, { ...user, scope: 'openid' });

    const response = await formPost(agent, '/oauth/logout/confirm', { logout: 'yes', xsrf: 'forged' });

    expect(response.status).toBe(400);
    const after = await agent.follow(authorizationUrl(server, { scope: 'openid', prompt: 'none' }), server.demoRedirectUri);
    expect(new URL(after.url).searchParams.get('code')).toBeTruthy();
  });
});

describe('sign-out redirect', () => {
  it.each([
    ['another origin', () => 'https://evil.example/'],
    ['the client redirect URI', () => server.demoRedirectUri],
  ])('rejects post_logout_redirect_uri at %s', async (_name, target) => {
    const url = new URL('/oauth/logout', server.url);
    url.searchParams.set('client_id', server.demoClientId);
    url.searchParams.set('post_logout_redirect_uri', target());

    const response = await fetch(url, { redirect: 'manual' });

    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
  });
});

describe('pushed authorization request replay', () => {
  it('uses only the pushed parameters, once', async () => {
    const verifier = client.randomPKCECodeVerifier();
    const pushed = await client.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: server.demoRedirectUri,
      scope: 'openid orders:read',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 'pushed-state',
    });
    const tampered = new URL(pushed);
    tampered.searchParams.set('redirect_uri', 'https://evil.example/cb');
    tampered.searchParams.set('scope', 'openid orders:read orders:write admin');

    const agent = new UserAgent(server.url);
    const callback = await completeSignIn(agent, tampered.href);
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: 'pushed-state' });
    expect(tokens.scope).toBe('orders:read');

    const replay = await agent.fetch(pushed.href);
    expect(replay.status).toBe(400);
    expect(await replay.text()).toContain('invalid_request_uri');
  });
});

describe('silent scope upgrade', () => {
  it('requires consent for a new scope with prompt=none', async () => {
    const { agent } = await authorize(server, config, { ...user, scope: 'openid orders:read' });

    const response = await agent.fetch(authorizationUrl(server, { scope: 'openid orders:read orders:write', prompt: 'none' }));

    const location = new URL(response.headers.get('location') ?? '');
    expect(location.searchParams.get('error')).toBe('consent_required');
    expect(location.searchParams.get('code')).toBeNull();
  });
});

describe('client secret in the header and the body', () => {
  it('authenticates with the header and ignores the body', async () => {
    // client_secret_post is not offered, so RFC 6749 section 3.2 makes a
    // body client_secret an unrecognized parameter that the server ignores.
    const redirectUri = 'https://client.example.test/cb';
    const created = await runCli(['clients', 'add', '--name', 'Both places', '--json', '--confidential', '--redirect-uri', redirectUri, '--data-dir', server.dataDir]);
    expect(created.code, created.stderr).toBe(0);
    const web = JSON.parse(created.stdout) as { client_id: string; client_secret: string };
    const webConfig = await client.discovery(new URL(server.issuer), web.client_id, undefined, client.ClientSecretBasic(web.client_secret), {
      execute: [client.allowInsecureRequests],
    });
    const { callbackUrl, codeVerifier } = await authorize(server, webConfig, { ...user, scope: 'openid orders:read', redirectUri });

    const response = await fetch(`${server.url}/oauth/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${web.client_id}:${web.client_secret}`).toString('base64')}`,
      },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: callbackUrl.searchParams.get('code') ?? '',
        redirect_uri: redirectUri,
        code_verifier: codeVerifier,
        client_secret: 'not-the-secret',
      }),
    });

    expect(response.status).toBe(200);
  });
});

describe('responses cached by intermediaries', () => {
  it('sends no-store from userinfo, introspection and revocation', async () => {
    const { tokens } = await obtainTokens(server, { ...user, scope: 'openid offline_access' }, config);
    const form = { 'content-type': 'application/x-www-form-urlencoded' };

    const responses: Array<[string, Response]> = [
      ['userinfo', await fetch(`${server.url}/oauth/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } })],
      ['userinfo error', await fetch(`${server.url}/oauth/userinfo`, { headers: { authorization: 'Bearer not-a-token' } })],
      ['introspection', await fetch(`${server.url}/oauth/introspect`, { method: 'POST', headers: form, body: new URLSearchParams({ token: tokens.refresh_token ?? '', client_id: server.demoClientId }) })],
      ['introspection error', await fetch(`${server.url}/oauth/introspect`, { method: 'POST', headers: form, body: 'token=x' })],
      ['revocation', await fetch(`${server.url}/oauth/revoke`, { method: 'POST', headers: form, body: new URLSearchParams({ token: tokens.refresh_token ?? '', client_id: server.demoClientId }) })],
    ];

    for (const [name, response] of responses) {
      expect(response.headers.get('cache-control'), name).toBe('no-store');
      expect(response.headers.get('pragma'), name).toBe('no-cache');
    }
  });

  it('keeps sign-in pages out of frames', async () => {
    const agent = new UserAgent(server.url);
    const signIn = await agent.follow(authorizationUrl(server, { scope: 'openid' }));
    const consentAgent = (await authorize(server, config, { ...user, scope: 'openid orders:write' })).agent;
    const consent = await consentAgent.follow(authorizationUrl(server, { scope: 'openid orders:read orders:write admin' }));
    expect(await signIn.response.clone().text()).toContain('/login"');
    expect(await consent.response.clone().text()).toContain('/confirm"');

    const pages: Array<[string, Response]> = [
      ['sign-in', signIn.response],
      ['consent', consent.response],
      ['registration', await fetch(`${server.url}/register`)],
      ['sign-out', await fetch(`${server.url}/oauth/logout`)],
      ['error', await fetch(authorizationUrl(server, { client_id: 'unknown-client' }))],
    ];

    for (const [name, response] of pages) {
      expect(response.headers.get('x-frame-options'), name).toBe('DENY');
      expect(response.headers.get('content-security-policy'), name).toContain("frame-ancestors 'none'");
      expect(response.headers.get('cache-control'), name).toBe('no-store');
    }
  });
});
