import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SHORTHAND_UPSTREAM_NAME } from '../../src/config/upstreams.js';

import { createUser } from '../support/accounts.js';
import { gatewaySigner } from '../support/identity-assertions.js';
import { runCli } from '../support/cli.js';
import { callApi, obtainTokens } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

interface OrderPage {
  items: Array<{ id: string; owner: string }>;
}

interface Problem {
  code: string;
  detail: string;
}

/** Reads the demo Orders API's loopback address from the start log. */
function demoUrl(server: TestServer): string {
  for (const line of server.logs) {
    const entry = JSON.parse(line) as { msg?: string; url?: string };
    if (entry.msg === 'demo Orders API listening on loopback' && entry.url !== undefined) {
      return entry.url;
    }
  }
  throw new Error('the demo Orders API did not log its address');
}

describe('per-user order listing of the demo', () => {
  let server: TestServer;
  let alice: { id: string; username: string; password: string };
  let bob: { id: string; username: string; password: string };
  let aliceToken: string;
  let bobToken: string;
  let orderId: string;

  beforeAll(async () => {
    server = await startTestServer();
    alice = await createUser(server, 'bola_alice');
    bob = await createUser(server, 'bola_bob');
    aliceToken = (await obtainTokens(server, alice)).tokens.access_token;
    bobToken = (await obtainTokens(server, bob)).tokens.access_token;

    const created = await callApi(server, '/orders', aliceToken, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"item":"lamp","quantity":1}',
    });
    expect(created.status).toBe(201);
    orderId = ((await created.json()) as { id: string }).id;
  });

  afterAll(async () => {
    await server.close();
  });

  it('is open to BOLA when called directly', async () => {
    // Bob's identity, signed as the gateway signs it, for a request the gateway would refuse.
    const signer = gatewaySigner(server);
    const path = `/users/${alice.id}/orders`;
    const bobIdentity = { subject: bob.id, scopes: ['orders:read'], roles: [], clientId: server.demoClientId, credential: 'jwt' as const };
    const assertion = await signer.sign(bobIdentity, { method: 'GET', target: path, requestId: randomUUID(), upstream: SHORTHAND_UPSTREAM_NAME });

    const response = await fetch(`${demoUrl(server)}${path}`, { headers: { 'x-portcullis-identity': assertion } });
    expect(response.status).toBe(200);
    expect(((await response.json()) as OrderPage).items.map((order) => order.id)).toEqual([orderId]);
  });

  it('rejects unsigned identity headers', async () => {
    const response = await fetch(`${demoUrl(server)}/users/${alice.id}/orders`, {
      headers: { 'x-portcullis-subject': bob.id, 'x-portcullis-scope': 'orders:read' },
    });
    expect(response.status).toBe(401);
  });

  it('refuses another user’s listing at the gateway', async () => {
    const response = await callApi(server, `/users/${alice.id}/orders`, bobToken);
    expect(response.status).toBe(404);
    const problem = (await response.json()) as Problem;
    expect(problem.code).toBe('not_found');
    expect(problem.detail).toBe('No resource matches the path parameter.');
    expect(server.logs.some((line) => line.includes('object-level binding rejected the request') && line.includes(bob.id))).toBe(true);
  });

  it('serves the caller’s own listing', async () => {
    const response = await callApi(server, `/users/${alice.id}/orders`, aliceToken);
    expect(response.status).toBe(200);
    expect(((await response.json()) as OrderPage).items.map((order) => order.id)).toEqual([orderId]);
  });

  it('lets admins read any listing', async () => {
    const admin = await createUser(server, 'bola_admin', ['admin']);
    const adminToken = (await obtainTokens(server, admin)).tokens.access_token;
    const response = await callApi(server, `/users/${alice.id}/orders`, adminToken);
    expect(response.status).toBe(200);
  });

  it('binds API keys to their owner', async () => {
    const created = await runCli(['apikeys', 'create', '--owner', 'bola_bob', '--name', 'bola', '--scope', 'orders:read', '--json', '--data-dir', server.dataDir]);
    expect(created.code, created.stderr).toBe(0);
    const key = (JSON.parse(created.stdout) as { key: string }).key;

    const other = await fetch(`${server.url}/api/users/${alice.id}/orders`, { headers: { 'x-api-key': key } });
    expect(other.status).toBe(404);
    const own = await fetch(`${server.url}/api/users/${bob.id}/orders`, { headers: { 'x-api-key': key } });
    expect(own.status).toBe(200);
  });
});
