import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SHORTHAND_UPSTREAM_NAME } from '../../src/config/upstreams.js';
import { IdentityAssertionVerifier } from '../../src/core/identity-assertion.js';
import { createUser } from '../support/accounts.js';
import { callApi, obtainTokens } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

describe('gateway identity assertion', () => {
  let upstream: Server;
  let received: ReceivedRequest[];
  let server: TestServer;
  let token: string;
  let verifier: IdentityAssertionVerifier;

  beforeAll(async () => {
    received = [];
    upstream = createServer((request, response) => {
      received.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers });
      response.setHeader('content-type', 'application/json');
      response.end('{"items":[],"next_cursor":null}');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const port = (upstream.address() as AddressInfo).port;

    // A base path on the upstream shows that the assertion binds the path the upstream receives.
    server = await startTestServer({ upstreamUrl: `http://127.0.0.1:${port}/base` });
    token = (await obtainTokens(server, await createUser(server, 'assertion_user'))).tokens.access_token;

    const jwks = await fetch(`${server.url}/.well-known/portcullis-identity-jwks.json`);
    verifier = new IdentityAssertionVerifier({ issuer: server.issuer, audience: `${server.issuer}/api`, keys: (await jwks.json()) as JSONWebKeySet });
  });

  afterAll(async () => {
    await server.close();
    await new Promise((resolve) => upstream.close(resolve));
  });

  it('signs the forwarded request', async () => {
    const response = await callApi(server, '/orders?limit=5', token, { headers: { 'x-portcullis-identity': 'forged' } });
    expect(response.status).toBe(200);

    const forwarded = received.at(-1) as ReceivedRequest;
    expect(forwarded.url).toBe('/base/orders?limit=5');
    const assertion = forwarded.headers['x-portcullis-identity'] as string;
    expect(assertion).not.toBe('forged');

    const verified = await verifier.verify(assertion, forwarded.method, forwarded.url);
    expect(verified.identity.subject).toBe(forwarded.headers['x-portcullis-subject']);
    expect(verified.identity.scopes).toEqual(['orders:read', 'orders:write']);
    expect(verified.identity.clientId).toBe(server.demoClientId);
    expect(verified.requestId).toBe(forwarded.headers['x-portcullis-request-id']);
    expect(verified.requestId).toBe(response.headers.get('x-request-id'));
  });

  it('binds the method and path', async () => {
    await callApi(server, '/orders', token);
    const forwarded = received.at(-1) as ReceivedRequest;
    const assertion = forwarded.headers['x-portcullis-identity'] as string;

    await expect(verifier.verify(assertion, 'DELETE', forwarded.url)).rejects.toThrow('another method or path');
    await expect(verifier.verify(assertion, 'GET', '/base/admin/orders')).rejects.toThrow('another method or path');
  });

  it('binds the upstream name', async () => {
    await callApi(server, '/orders', token);
    const forwarded = received.at(-1) as ReceivedRequest;
    const assertion = forwarded.headers['x-portcullis-identity'] as string;
    const keys = (await (await fetch(`${server.url}/.well-known/portcullis-identity-jwks.json`)).json()) as JSONWebKeySet;
    const billing = new IdentityAssertionVerifier({ issuer: server.issuer, audience: `${server.issuer}/api`, keys, upstream: 'billing' });
    const orders = new IdentityAssertionVerifier({ issuer: server.issuer, audience: `${server.issuer}/api`, keys, upstream: SHORTHAND_UPSTREAM_NAME });

    await expect(billing.verify(assertion, forwarded.method, forwarded.url)).rejects.toThrow('another upstream service');
    expect((await orders.verify(assertion, forwarded.method, forwarded.url)).requestId).toBe(forwarded.headers['x-portcullis-request-id']);
  });

  it('accepts each assertion once', async () => {
    await callApi(server, '/orders', token);
    const forwarded = received.at(-1) as ReceivedRequest;
    const assertion = forwarded.headers['x-portcullis-identity'] as string;

    await expect(verifier.verify(assertion, 'GET', '/base/other')).rejects.toThrow('another method or path');
    expect((await verifier.verify(assertion, forwarded.method, forwarded.url)).requestId).toBe(forwarded.headers['x-portcullis-request-id']);
    await expect(verifier.verify(assertion, forwarded.method, forwarded.url)).rejects.toThrow('already used');
  });

  it('publishes only the assertion key', async () => {
    const response = await fetch(`${server.url}/.well-known/portcullis-identity-jwks.json`);
    const assertionKeys = (await response.json()) as { keys: Array<{ kid: string; alg: string; d?: string }> };
    const tokenKeys = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> };

    expect(assertionKeys.keys).toHaveLength(1);
    expect(assertionKeys.keys[0]?.alg).toBe('EdDSA');
    expect(assertionKeys.keys[0]?.d).toBeUndefined();
    expect(tokenKeys.keys.map((key) => key.kid)).not.toContain(assertionKeys.keys[0]?.kid);
  });
});
