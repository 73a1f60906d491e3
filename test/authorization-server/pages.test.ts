import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AccountService } from '../../src/accounts/account-service.js';
import { PASSWORD_MAX_LENGTH } from '../../src/core/registration-rules.js';
import { AccountRepository } from '../../src/store/account-repository.js';
import { createUser } from '../support/accounts.js';
import { authorize, openSignInPage, publicClient } from '../support/oauth.js';
import { errorFor, register } from '../support/registration.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { UserAgent, formEndingWith, parseForms, type PageForm } from '../support/user-agent.js';

describe('registration page', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server.close();
  });

  const valid = { username: 'new_user', email: 'New.User@Example.com', password: 'Sturdy-Passw0rd' };

  it('creates an account with a lower-cased email', async () => {
    const result = await register(server.url, valid);
    expect(result.status).toBe(201);

    const account = await server.running.db.selectFrom('accounts').selectAll().where('username_key', '=', 'new_user').executeTakeFirst();
    expect(account?.email).toBe('new.user@example.com');
    expect(account?.password_hash).toMatch(/^\$argon2id\$/);
  });

  it.each([
    ['too short', 'ab'],
    ['too long', 'a'.repeat(31)],
    ['a hyphen', 'bad-name'],
    ['a space', 'bad name'],
  ])('rejects a username with %s', async (_name, username) => {
    const result = await register(server.url, { ...valid, username, email: 'other@example.com' });
    expect(result.status).toBe(400);
    expect(errorFor(result.html, 'username')).toEqual(['Username must be 3 to 30 characters of letters, digits and underscore.']);
  });

  it.each([
    ['no at sign', 'user.example.com'],
    ['no domain dot', 'user@localhost'],
    ['spaces', 'us er@example.com'],
    ['two at signs', 'a@b@example.com'],
  ])('rejects an email with %s', async (_name, email) => {
    const result = await register(server.url, { ...valid, username: 'mail_user', email });
    expect(result.status).toBe(400);
    expect(errorFor(result.html, 'email')).toEqual(['Email must be a valid address such as name@example.com.']);
  });

  it('rejects an email over 255 characters', async () => {
    const result = await register(server.url, { ...valid, username: 'long_mail', email: `${'a'.repeat(250)}@example.com` });
    expect(errorFor(result.html, 'email')).toEqual(['Email must be at most 255 characters.']);
  });

  it.each([
    ['short', 'Sh0rt-pass', 'Password must be at least 12 characters.'],
    ['without upper case', 'lowercase-only-1', 'Password must contain an upper-case letter.'],
    ['without lower case', 'UPPERCASE-ONLY-1', 'Password must contain a lower-case letter.'],
    ['without a digit', 'No-Digits-Here', 'Password must contain a digit.'],
  ])('rejects a password %s', async (_name, password, message) => {
    const result = await register(server.url, { ...valid, username: 'pw_user', email: 'pw@example.com', password });
    expect(result.status).toBe(400);
    expect(errorFor(result.html, 'password')).toEqual([message]);
  });

  it('rejects a password equal to the username or email', async () => {
    const sameAsName = await register(server.url, { username: 'Passw0rdUser1', email: 'pw1@example.com', password: 'passw0rduser1' });
    expect(errorFor(sameAsName.html, 'password')).toContain('Password must not be the username.');

    const email = 'Abcdefgh1@example.com';
    const sameAsEmail = await register(server.url, { username: 'pw_user2', email, password: email });
    expect(errorFor(sameAsEmail.html, 'password')).toContain('Password must not be the email address.');
  });

  it('reports every broken field at once', async () => {
    const result = await register(server.url, { username: 'x', email: 'nope', password: 'short' });
    expect(errorFor(result.html, 'username')).toHaveLength(1);
    expect(errorFor(result.html, 'email')).toHaveLength(1);
    expect(errorFor(result.html, 'password').length).toBeGreaterThanOrEqual(2);
  });

  it('writes nothing for a rejected registration', async () => {
    const before = await server.running.db.selectFrom('accounts').select('id').execute();
    await register(server.url, { username: 'ok_name', email: 'bad', password: 'Sturdy-Passw0rd' });
    const after = await server.running.db.selectFrom('accounts').select('id').execute();
    expect(after.length).toBe(before.length);
  });

  it('rejects a form without its CSRF token', async () => {
    const agent = new UserAgent(server.url);
    await agent.fetch('/register');
    const response = await agent.fetch('/register', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...valid, username: 'csrf_user', email: 'csrf@example.com', _csrf: 'forged' }),
    });
    expect(response.status).toBe(403);
  });

  it('serves pages with a strict policy', async () => {
    const response = await fetch(`${server.url}/register`);
    const policy = response.headers.get('content-security-policy') ?? '';
    expect(policy).toContain("default-src 'none'");
    expect(policy).toContain("style-src 'self'");
    expect(policy).toContain("frame-ancestors 'none'");
    expect(policy).not.toContain('unsafe-inline');
    const html = await response.text();
    expect(html).not.toMatch(/<script|style="|<style/);
  });
});

describe('login page', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
    await createUser(server, 'carol');
  });

  afterAll(async () => {
    await server.close();
  });

  async function attemptLogin(username: string, password: string): Promise<{ status: number; html: string }> {
    const { agent, html } = await openSignInPage(server);
    const { response } = await agent.submit(formEndingWith(html, '/login'), { username, password });
    return { status: response.status, html: await response.text() };
  }

  it('gives one message for unknown users and wrong passwords', async () => {
    const unknown = await attemptLogin('nobody_here', 'Whatever-Passw0rd');
    const wrong = await attemptLogin('carol', 'Wrong-Passw0rd-1');

    expect(unknown.status).toBe(401);
    expect(wrong.status).toBe(401);
    const message = (html: string) => /<p class="notice"[^>]*>([^<]*)<\/p>/.exec(html)?.[1];
    expect(message(unknown.html)).toBe('Invalid username or password.');
    expect(message(wrong.html)).toBe(message(unknown.html));
  });

  it('signs in with a long decomposed password', async () => {
    // 256 code points in NFC, 1024 UTF-16 code units as a decomposing keyboard sends them.
    const password = `Aa1${'\u1F82'.repeat(PASSWORD_MAX_LENGTH - 3)}`;
    const service = new AccountService(new AccountRepository(server.running.db));
    await service.register({ username: 'greek_user', email: 'greek_user@example.com', password });
    const typed = password.normalize('NFD');

    const { agent, html } = await openSignInPage(server);
    const maxLength = Number(/<input id="password"[^>]* maxlength="([0-9]+)"/.exec(html)?.[1]);
    expect(maxLength).toBeGreaterThanOrEqual(typed.length);
    const { response } = await agent.submit(formEndingWith(html, '/login'), { username: 'greek_user', password: typed });
    expect(response.status).toBe(200);
  });

  it('lets a user register from the sign-in page', async () => {
    const config = await publicClient(server);
    const { agent, html: loginHtml } = await openSignInPage(server);
    const registerLink = /href="(\/register\?interaction=[^"]+)"/.exec(loginHtml)?.[1];
    expect(registerLink).toBeDefined();

    const registerPage = await agent.fetch(registerLink ?? '');
    const form = formEndingWith(await registerPage.text(), '/register');
    const registered = await agent.submit(form, { username: 'dave', email: 'dave@example.com', password: 'Sturdy-Passw0rd' });
    const html = await registered.response.text();
    expect(html).toContain('Account created. Sign in to continue.');

    const result = await authorize(server, config, { username: 'dave', password: 'Sturdy-Passw0rd', agent });
    expect(result.callbackUrl.searchParams.get('code')).toBeTruthy();
  });
});

describe('sign-out page', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server.close();
  });

  it('ends the session without script', async () => {
    const user = await createUser(server, 'leaver');
    const config = await publicClient(server);
    const { agent } = await authorize(server, config, user);

    const confirm = await agent.fetch('/oauth/logout');
    const html = await confirm.text();
    expect(confirm.status).toBe(200);
    expect(html).toContain('Sign out of Portcullis on this browser?');
    expect(html).not.toMatch(/<script|<style|style="/);
    expect(confirm.headers.get('content-security-policy')).toContain("default-src 'none'");

    const form = parseForms(html).find((candidate) => candidate.action.includes('/oauth/logout'));
    expect(form).toBeDefined();
    const { response } = await agent.submit(form as PageForm, { logout: 'yes' });
    expect(await response.text()).toContain('You are signed out of Portcullis on this browser.');
    expect(response.headers.get('clear-site-data')).toBe('"cache", "storage"');

    // A new authorization request asks for the password again.
    const again = await openSignInPage(server);
    expect(again.html).toContain('/login"');
    const resumed = await agent.follow(
      (await import('openid-client')).buildAuthorizationUrl(config, {
        redirect_uri: server.demoRedirectUri,
        scope: 'openid',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        code_challenge_method: 'S256',
      }).href,
      server.demoRedirectUri,
    );
    expect(await resumed.response.text()).toContain('/login"');
  });
});
