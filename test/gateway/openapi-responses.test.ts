import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SHORTHAND_UPSTREAM_NAME } from '../../src/config/upstreams.js';

import { createUser } from '../support/accounts.js';
import { gatewaySigner } from '../support/identity-assertions.js';
import { callApi, obtainTokens } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

const JSON_HEADERS = { 'content-type': 'application/json' };
const INTERNAL_FIELDS = ['passwordHash', 'isStaff', 'internalRiskScore'];

interface Profile {
  userId: string;
  displayName: string;
  role: string;
  [name: string]: unknown;
}

interface Problem {
  code: string;
  errors?: Array<{ pointer: string; detail: string }>;
}

/** Reads the demo upstream's loopback address from the start-up log. */
function demoUpstreamUrl(server: TestServer): string {
  for (const line of server.logs) {
    const entry = JSON.parse(line) as { msg?: string; url?: string };
    if (entry.msg === 'demo Orders API listening on loopback' && entry.url !== undefined) {
      return entry.url;
    }
  }
  throw new Error('the server did not log the demo upstream address');
}

describe('demo profiles behind the gateway', () => {
  let server: TestServer;
  let upstreamUrl: string;

  beforeAll(async () => {
    server = await startTestServer();
    upstreamUrl = demoUpstreamUrl(server);
  });

  afterAll(async () => {
    await server.close();
  });

  /**
   * Calls the demo upstream directly, past the gateway's checks, with an
   * identity signed as the gateway signs it (the demo rejects unsigned
   * identity headers).
   */
  async function callUpstream(path: string, subject: string, init: RequestInit = {}): Promise<Response> {
    const signer = gatewaySigner(server);
    const identity = { subject, scopes: ['orders:read', 'orders:write'], roles: [], clientId: 'direct', credential: 'jwt' as const };
    const method = init.method ?? 'GET';

    const headers = new Headers(init.headers);
    headers.set('x-portcullis-identity', await signer.sign(identity, { method, target: path, requestId: randomUUID(), upstream: SHORTHAND_UPSTREAM_NAME }));
    return fetch(`${upstreamUrl}${path}`, { ...init, headers });
  }

  async function signIn(username: string): Promise<{ id: string; token: string }> {
    const user = await createUser(server, username);
    return { id: user.id, token: (await obtainTokens(server, user)).tokens.access_token };
  }

  it('leaks internal fields without the gateway', async () => {
    const response = await callUpstream('/users/direct-reader/profile', 'direct-reader');
    expect(response.status).toBe(200);
    const profile = (await response.json()) as Profile;
    for (const field of INTERNAL_FIELDS) {
      expect(profile, field).toHaveProperty(field);
    }
    expect(String(profile['passwordHash'])).toMatch(/^scrypt\$/);
  });

  it('filters internal fields through the gateway', async () => {
    const { id, token } = await signIn('profile_reader');
    const response = await callApi(server, `/users/${id}/profile`, token);
    expect(response.status).toBe(200);

    const text = await response.text();
    expect(response.headers.get('content-length')).toBe(String(Buffer.byteLength(text)));
    const profile = JSON.parse(text) as Profile;
    expect(Object.keys(profile).sort()).toEqual(['bio', 'displayName', 'role', 'updatedAt', 'userId']);
    expect(profile.userId).toBe(id);
    for (const field of INTERNAL_FIELDS) {
      expect(text, field).not.toContain(field);
    }
  });

  it('filters the PATCH response too', async () => {
    const { id, token } = await signIn('profile_editor');
    const response = await callApi(server, `/users/${id}/profile`, token, { method: 'PATCH', headers: JSON_HEADERS, body: '{"bio":"Lamps."}' });
    expect(response.status).toBe(200);
    const profile = (await response.json()) as Profile;
    expect(profile.bio).toBe('Lamps.');
    expect(profile).not.toHaveProperty('passwordHash');
  });

  it('accepts a role without the gateway', async () => {
    const patch = await callUpstream('/users/direct-attacker/profile', 'direct-attacker', {
      method: 'PATCH',
      headers: JSON_HEADERS,
      body: '{"role":"admin"}',
    });
    expect(patch.status).toBe(200);
    expect(((await patch.json()) as Profile).role).toBe('admin');

    // The stored role now passes the ownership check for someone else's profile.
    await callUpstream('/users/direct-victim/profile', 'direct-victim');
    const stolen = await callUpstream('/users/direct-victim/profile', 'direct-attacker');
    expect(stolen.status).toBe(200);
    expect(((await stolen.json()) as Profile).userId).toBe('direct-victim');
  });

  it('rejects a role through the gateway', async () => {
    const { id, token } = await signIn('profile_attacker');
    const response = await callApi(server, `/users/${id}/profile`, token, {
      method: 'PATCH',
      headers: JSON_HEADERS,
      body: '{"displayName":"Mallory","role":"admin"}',
    });
    expect(response.status).toBe(400);
    const problem = (await response.json()) as Problem;
    expect(problem.code).toBe('validation_failed');
    expect(problem.errors).toEqual([{ pointer: '/body/role', detail: "unknown property 'role' is not allowed" }]);

    const profile = (await (await callApi(server, `/users/${id}/profile`, token)).json()) as Profile;
    expect(profile.role).toBe('user');
    expect(profile.displayName).toBe(id);
  });

  it.each([['isStaff', 'true'], ['internalRiskScore', '0'], ['passwordHash', '"x"']])('rejects %s through the gateway', async (name, value) => {
    const { id, token } = await signIn(`profile_${name.toLowerCase()}`);
    const response = await callApi(server, `/users/${id}/profile`, token, { method: 'PATCH', headers: JSON_HEADERS, body: `{"${name}":${value}}` });
    expect(response.status).toBe(400);
    expect(((await response.json()) as Problem).errors?.[0]?.pointer).toBe(`/body/${name}`);
  });

  it('keeps other profiles private', async () => {
    const owner = await signIn('profile_owner');
    const other = await signIn('profile_other');
    expect((await callApi(server, `/users/${owner.id}/profile`, owner.token)).status).toBe(200);

    const read = await callApi(server, `/users/${owner.id}/profile`, other.token);
    expect(read.status).toBe(404);
    expect(((await read.json()) as Problem).code).toBe('not_found');

    const write = await callApi(server, `/users/${owner.id}/profile`, other.token, { method: 'PATCH', headers: JSON_HEADERS, body: '{"bio":"x"}' });
    expect(write.status).toBe(404);
  });
});
