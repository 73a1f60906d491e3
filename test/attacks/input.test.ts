import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { callApi, obtainTokens, openSignInPage } from '../support/oauth.js';
import { errorFor, register } from '../support/registration.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { formEndingWith } from '../support/user-agent.js';

/**
 * Attacks through request input: prototype pollution from JSON bodies and
 * look-alike identifiers that collide with an existing account. The server
 * runs in the test process, so a polluted Object.prototype would show here.
 */

const JSON_HEADERS = { 'content-type': 'application/json' };

let server: TestServer;
let token: string;
let userId: string;
let otherToken: string;

beforeAll(async () => {
  server = await startTestServer();
  const user = await createUser(server, 'input_user');
  userId = user.id;
  token = (await obtainTokens(server, user)).tokens.access_token;
  otherToken = (await obtainTokens(server, await createUser(server, 'input_other'))).tokens.access_token;
});

afterAll(async () => {
  await server.close();
});

function expectPrototypeClean(): void {
  const probe = {} as Record<string, unknown>;
  expect(probe['isAdmin']).toBeUndefined();
  expect(probe['roles']).toBeUndefined();
  expect(Object.prototype).not.toHaveProperty('isAdmin');
}

describe('__proto__ in a JSON body pollutes every object', () => {
  it.each([
    ['a prototype key', '{"item":"a","quantity":1,"__proto__":{"isAdmin":true}}'],
    ['an escaped prototype key', '{"item":"a","quantity":1,"\\u005f_proto__":{"isAdmin":true}}'],
    ['a constructor key', '{"item":"a","quantity":1,"constructor":{"prototype":{"isAdmin":true}}}'],
    ['a nested prototype key', '{"item":{"__proto__":{"isAdmin":true}},"quantity":1}'],
    ['a prototype key in an array', '[{"__proto__":{"isAdmin":true}}]'],
  ])('rejects %s with 400', async (_name, body) => {
    const response = await callApi(server, '/orders', token, { method: 'POST', headers: JSON_HEADERS, body });
    const problem = (await response.json()) as { code: string };

    expect(response.status).toBe(400);
    expect(['invalid_json', 'validation_failed']).toContain(problem.code);
    expectPrototypeClean();
  });

  it.each([
    ['a prototype key', '{"displayName":"a","__proto__":{"isAdmin":true}}'],
    ['a constructor key', '{"displayName":"a","constructor":{"prototype":{"isAdmin":true}}}'],
  ])('rejects %s in a profile PATCH', async (_name, body) => {
    const response = await callApi(server, `/users/${userId}/profile`, token, { method: 'PATCH', headers: JSON_HEADERS, body });

    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expectPrototypeClean();
  });

  it('rejects a merge-patch profile body', async () => {
    const response = await callApi(server, `/users/${userId}/profile`, token, {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: '{"displayName":"a","__proto__":{"isAdmin":true}}',
    });

    expect(response.status).toBe(415);
    expectPrototypeClean();
  });

  it('rejects a merge-patch body the operation does not declare', async () => {
    const response = await callApi(server, '/orders', token, {
      method: 'POST',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: '{"item":"a","__proto__":{"isAdmin":true}}',
    });

    expect(response.status).toBe(415);
    expectPrototypeClean();
  });

  it('rejects prototype keys in the query string', async () => {
    for (const query of ['__proto__[isAdmin]=true', 'constructor[prototype][isAdmin]=true', '__proto__.isAdmin=true']) {
      const response = await callApi(server, `/orders?${query}`, token);
      expect(response.status, query).toBe(400);
    }
    expectPrototypeClean();
  });

  it('keeps another user out of the admin route afterwards', async () => {
    await callApi(server, '/orders', token, { method: 'POST', headers: JSON_HEADERS, body: '{"item":"a","quantity":1,"__proto__":{"roles":["admin"],"isAdmin":true}}' });
    await callApi(server, `/users/${userId}/profile`, token, { method: 'PATCH', headers: JSON_HEADERS, body: '{"__proto__":{"role":"admin","isAdmin":true}}' });

    const response = await callApi(server, '/admin/orders', otherToken);

    expect(response.status).toBe(403);
    expectPrototypeClean();
  });
});

describe('Unicode look-alikes collide with an existing account', () => {
  const password = 'Sturdy-Passw0rd';

  it.each([
    ['fullwidth letters', 'ａｄｍｉｎ'],
    ['a Cyrillic a', 'аdmin'],
    ['a dotless i', 'admın'],
    ['a combining accent', 'admin\u0301'],
    ['a zero-width space', 'ad\u200bmin'],
  ])('rejects a username with %s', async (_name, username) => {
    const result = await register(server.url, { username, email: 'lookalike@example.com', password });

    expect(result.status).toBe(400);
    expect(errorFor(result.html, 'username')).toEqual(['Username must be 3 to 30 characters of letters, digits and underscore.']);
  });

  it('rejects a username taken in another case', async () => {
    const result = await register(server.url, { username: 'ADMIN', email: 'someone@example.com', password });

    expect(result.status).toBe(400);
    expect(errorFor(result.html, 'username')).toEqual(['Username is already taken.']);
  });

  it('rejects an email registered in another case', async () => {
    await createUser(server, 'mike');
    const result = await register(server.url, { username: 'mike2', email: 'MIKE@EXAMPLE.COM', password });

    expect(result.status).toBe(400);
    expect(errorFor(result.html, 'email')).toEqual(['Email is already registered.']);
  });

  it.each([
    ['a dotless i', 'mıke@example.com'],
    ['a Kelvin sign', 'mi\u212Ae@example.com'],
    ['fullwidth letters', 'ｍｉｋｅ@example.com'],
  ])('rejects an email with %s', async (_name, email) => {
    const result = await register(server.url, { username: 'mail_user', email, password });

    expect(result.status).toBe(400);
    expect(errorFor(result.html, 'email')).toEqual(['Email must be a valid address such as name@example.com.']);
  });

  it('ignores Unicode case mapping at sign-in', async () => {
    const user = await createUser(server, 'kelvin');
    const signIn = async (username: string) => {
      const { agent, html } = await openSignInPage(server);
      return (await agent.submit(formEndingWith(html, '/login'), { username, password: user.password })).response.status;
    };

    // The Kelvin sign (U+212A) lower-cases to "k" under Unicode case mapping.
    expect(await signIn('\u212Aelvin')).toBe(401);
    expect(await signIn('KELVIN')).toBe(200);
  });

  it('keeps the stored address of the existing account', async () => {
    const account = await server.running.db.selectFrom('accounts').select('email').where('username_key', '=', 'mike').executeTakeFirst();

    expect(account?.email).toBe('mike@example.com');
  });
});
