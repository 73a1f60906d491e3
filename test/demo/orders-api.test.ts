import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { SignJWT, UnsecuredJWT } from 'jose';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { IdentityAssertionSigner } from '../../src/core/identity-assertion.js';
import { MAX_PAGE_SIZE, createOrdersApi, type OrdersApiOptions } from '../../src/demo/orders-api.js';
import { createLogger } from '../../src/http/logger.js';

interface Order {
  id: string;
  item: string;
  quantity: number;
  status: string;
  owner: string;
  createdAt: string;
}

interface Page {
  items: Order[];
  next_cursor: string | null;
}

interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  request_id: string;
  errors?: Array<{ pointer: string; detail: string }>;
}

interface CallerOptions {
  scope?: string;
  roles?: string;
}

const READ_WRITE = 'orders:read orders:write';

const ISSUER = 'http://127.0.0.1:8080';
const AUDIENCE = `${ISSUER}/api`;
const signer = new IdentityAssertionSigner({ seed: randomBytes(32), issuer: ISSUER, audience: AUDIENCE });
const identityAssertion: OrdersApiOptions['identityAssertion'] = { issuer: ISSUER, audience: AUDIENCE, jwks: await signer.publicJwks() };

/** Header that `inject` replaces with the identity assertion the gateway would sign for the request. */
const CALLER_HEADER = 'x-test-caller';

/** Names the caller of a request; `inject` turns it into a signed identity assertion. */
function caller(subject: string, options: CallerOptions = {}): Record<string, string> {
  const roles = options.roles ?? '';
  const identity = {
    subject,
    scopes: (options.scope ?? READ_WRITE).split(' '),
    roles: roles === '' ? [] : roles.split(' '),
    clientId: 'test-client',
    credential: 'jwt',
  };
  return { [CALLER_HEADER]: JSON.stringify(identity) };
}

/** Signs the assertion for `method` and `url` as the gateway does. */
async function assertionHeader(callerHeaders: Record<string, string>, method: string, url: string): Promise<Record<string, string>> {
  const { [CALLER_HEADER]: encoded, ...rest } = callerHeaders;
  if (encoded === undefined) {
    return rest;
  }
  const assertion = await signer.sign(JSON.parse(encoded), { method, target: url, requestId: randomUUID() });
  return { ...rest, 'x-portcullis-identity': assertion };
}

/** Injects a request, with the caller's identity as a signed assertion bound to its method and URL. */
async function inject(app: FastifyInstance, options: InjectOptions & { url: string }): Promise<LightMyRequestResponse> {
  const headers = await assertionHeader((options.headers ?? {}) as Record<string, string>, options.method ?? 'GET', options.url);
  return app.inject({ ...options, headers });
}

function ordersApi(options: Omit<OrdersApiOptions, 'identityAssertion' | 'logger'> = {}): FastifyInstance {
  return createOrdersApi({ logger: createLogger('silent'), identityAssertion, ...options });
}

/** Asserts that a response is a problem document with `status` and `code`, and returns it. */
function expectProblem(response: LightMyRequestResponse, status: number, code: string): Problem {
  expect(response.statusCode).toBe(status);
  expect(response.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  expect(response.headers['cache-control']).toBe('no-store');

  const problem = response.json<Problem>();
  expect(problem.status).toBe(status);
  expect(problem.code).toBe(code);
  expect(problem.type).toBe(`urn:portcullis:problem:${code.replaceAll('_', '-')}`);
  expect(problem.request_id).toBe(response.headers['x-request-id']);
  expect(problem).not.toHaveProperty('stack');
  expect(response.body).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);

  return problem;
}

describe('demo Orders API', () => {
  let app: FastifyInstance;

  beforeAll(async () => {
    app = ordersApi();
    await app.ready();
  });

  afterAll(async () => {
    await app.close();
  });

  async function place(subject: string, item = 'rope', quantity = 1): Promise<Order> {
    const response = await inject(app, {
      method: 'POST',
      url: '/orders',
      headers: caller(subject),
      payload: { item, quantity },
    });

    expect(response.statusCode).toBe(201);
    return response.json<Order>();
  }

  async function listPage(subject: string, query = ''): Promise<Page> {
    const response = await inject(app, { url: `/orders${query}`, headers: caller(subject) });

    expect(response.statusCode).toBe(200);
    return response.json<Page>();
  }

  describe('own orders', () => {
    it('creates an order', async () => {
      const response = await inject(app, {
        method: 'POST',
        url: '/orders',
        headers: caller('alice'),
        payload: { item: 'lantern', quantity: 3 },
      });

      expect(response.statusCode).toBe(201);
      expect(response.headers['content-type']).toBe('application/json; charset=utf-8');

      const order = response.json<Order>();
      expect(order.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(order.item).toBe('lantern');
      expect(order.quantity).toBe(3);
      expect(order.status).toBe('placed');
      expect(order.owner).toBe('alice');
      expect(Date.parse(order.createdAt)).not.toBeNaN();
      expect(Object.keys(order).sort()).toEqual(['createdAt', 'id', 'item', 'owner', 'quantity', 'status']);
      expect(response.headers.location).toBe(`/api/orders/${order.id}`);
    });

    it('reads an own order', async () => {
      const order = await place('alice', 'compass', 2);

      const response = await inject(app, { url: `/orders/${order.id}`, headers: caller('alice') });

      expect(response.statusCode).toBe(200);
      expect(response.json<Order>()).toEqual(order);
    });

    it('lists own orders newest first', async () => {
      const first = await place('lister', 'first');
      const second = await place('lister', 'second');
      await place('someone-else', 'other');

      const page = await listPage('lister');

      expect(page.items).toEqual([second, first]);
      expect(page.next_cursor).toBeNull();
    });

    it('lists nothing for a new caller', async () => {
      const page = await listPage('newcomer');

      expect(page.items).toEqual([]);
      expect(page.next_cursor).toBeNull();
    });

    it('accepts item length bounds', async () => {
      await place('bounds', 'x');
      await place('bounds', 'x'.repeat(100), 1000);
    });
  });

  describe('pagination', () => {
    it('pages through with cursors', async () => {
      const placed: Order[] = [];
      for (const item of ['a', 'b', 'c', 'd', 'e']) {
        placed.push(await place('pager', item));
      }

      const first = await listPage('pager', '?limit=2');
      expect(first.items.map((order) => order.item)).toEqual(['e', 'd']);
      expect(first.next_cursor).toBeTypeOf('string');

      const second = await listPage('pager', `?limit=2&cursor=${first.next_cursor}`);
      expect(second.items.map((order) => order.item)).toEqual(['c', 'b']);
      expect(second.next_cursor).toBeTypeOf('string');

      const third = await listPage('pager', `?limit=2&cursor=${second.next_cursor}`);
      expect(third.items.map((order) => order.item)).toEqual(['a']);
      expect(third.next_cursor).toBeNull();

      const seen = [...first.items, ...second.items, ...third.items].map((order) => order.id);
      expect(seen.sort()).toEqual(placed.map((order) => order.id).sort());
    });

    it('ends exactly on a full page', async () => {
      await place('exact', 'a');
      await place('exact', 'b');

      const page = await listPage('exact', '?limit=2');

      expect(page.items).toHaveLength(2);
      expect(page.next_cursor).toBeNull();
    });

    it('keeps cursors valid after deletes', async () => {
      for (const item of ['a', 'b', 'c', 'd']) {
        await place('shifter', item);
      }
      const first = await listPage('shifter', '?limit=2');
      const lastShown = first.items[1];
      expect(lastShown?.item).toBe('c');

      const removed = await inject(app, { method: 'DELETE', url: `/orders/${lastShown?.id}`, headers: caller('shifter') });
      expect(removed.statusCode).toBe(204);
      await place('shifter', 'e');

      const second = await listPage('shifter', `?limit=2&cursor=${first.next_cursor}`);
      expect(second.items.map((order) => order.item)).toEqual(['b', 'a']);
      expect(second.next_cursor).toBeNull();
    });

    it('defaults the page size to 20', async () => {
      for (let index = 0; index < 21; index += 1) {
        await place('bulk', `item ${index}`);
      }

      const page = await listPage('bulk');

      expect(page.items).toHaveLength(20);
      expect(page.next_cursor).toBeTypeOf('string');
    });

    it('accepts the maximum limit', async () => {
      const page = await listPage('bulk', `?limit=${MAX_PAGE_SIZE}`);

      expect(page.items).toHaveLength(21);
    });

    it.each(['0', '101', 'abc', '1.5', '5.0', '1e1', '0x10', '-1', '', '%205'])('rejects limit "%s"', async (limit) => {
      const response = await inject(app, { url: `/orders?limit=${limit}`, headers: caller('pager') });

      const problem = expectProblem(response, 400, 'validation_failed');
      expect(problem.errors?.map((error) => error.pointer)).toContain('/querystring/limit');
    });

    it('rejects a repeated limit', async () => {
      const response = await inject(app, { url: '/orders?limit=1&limit=2', headers: caller('pager') });

      expectProblem(response, 400, 'validation_failed');
    });

    it.each([
      ['not base64 of a position', 'bm90LWEtY3Vyc29y'],
      ['zero position', Buffer.from('own:0').toString('base64url')],
      ['other listing', Buffer.from('all:1').toString('base64url')],
      ['padded encoding', `${Buffer.from('own:1').toString('base64url')}==`],
      ['stray characters', `${Buffer.from('own:1').toString('base64url')}!`],
    ])('rejects cursor: %s', async (_name, cursor) => {
      const response = await inject(app, {
        url: `/orders?cursor=${encodeURIComponent(cursor)}`,
        headers: caller('pager'),
      });

      const problem = expectProblem(response, 400, 'invalid_request');
      expect(problem.detail).toContain('cursor');
    });

    it('rejects an overlong cursor', async () => {
      const response = await inject(app, { url: `/orders?cursor=${'A'.repeat(65)}`, headers: caller('pager') });

      const problem = expectProblem(response, 400, 'validation_failed');
      expect(problem.errors?.map((error) => error.pointer)).toContain('/querystring/cursor');
    });

    it('rejects unknown query parameters', async () => {
      const response = await inject(app, { url: '/orders?owner=alice', headers: caller('pager') });

      const problem = expectProblem(response, 400, 'validation_failed');
      expect(problem.errors?.map((error) => error.pointer)).toContain('/querystring/owner');
    });
  });

  describe('object-level authorization', () => {
    it("hides another user's order", async () => {
      const order = await place('owner-a');

      const foreign = await inject(app, { url: `/orders/${order.id}`, headers: caller('owner-b') });
      const foreignProblem = expectProblem(foreign, 404, 'not_found');

      const missingId = randomUUID();
      const missing = await inject(app, { url: `/orders/${missingId}`, headers: caller('owner-b') });
      const missingProblem = expectProblem(missing, 404, 'not_found');

      expect(foreignProblem.detail.replace(order.id, '<id>')).toBe(missingProblem.detail.replace(missingId, '<id>'));
      expect(foreignProblem.title).toBe(missingProblem.title);
      expect(foreignProblem.type).toBe(missingProblem.type);
    });

    it("leaves others' orders out of lists", async () => {
      const order = await place('owner-a');

      const page = await listPage('owner-b', `?limit=${MAX_PAGE_SIZE}`);

      expect(page.items.map((item) => item.id)).not.toContain(order.id);
      expect(page.items.every((item) => item.owner === 'owner-b')).toBe(true);
    });

    it("hides another user's order on delete", async () => {
      const order = await place('owner-a');

      const removed = await inject(app, { method: 'DELETE', url: `/orders/${order.id}`, headers: caller('owner-b') });
      expectProblem(removed, 404, 'not_found');

      const ownerRead = await inject(app, { url: `/orders/${order.id}`, headers: caller('owner-a') });
      expect(ownerRead.statusCode).toBe(200);
    });

    it('returns 404 for a malformed id', async () => {
      const response = await inject(app, { url: '/orders/not-an-order-id', headers: caller('owner-a') });

      expectProblem(response, 404, 'not_found');
    });

    it('rejects an overlong id', async () => {
      const response = await inject(app, { url: `/orders/${'a'.repeat(65)}`, headers: caller('owner-a') });

      const problem = expectProblem(response, 400, 'validation_failed');
      expect(problem.errors?.map((error) => error.pointer)).toContain('/params/id');
    });
  });

  describe('delete', () => {
    it('deletes an own order', async () => {
      const order = await place('deleter');

      const removed = await inject(app, { method: 'DELETE', url: `/orders/${order.id}`, headers: caller('deleter') });
      expect(removed.statusCode).toBe(204);
      expect(removed.body).toBe('');

      const read = await inject(app, { url: `/orders/${order.id}`, headers: caller('deleter') });
      expectProblem(read, 404, 'not_found');

      const page = await listPage('deleter');
      expect(page.items.map((item) => item.id)).not.toContain(order.id);
    });

    it('returns 404 on a second delete', async () => {
      const order = await place('deleter');
      await inject(app, { method: 'DELETE', url: `/orders/${order.id}`, headers: caller('deleter') });

      const again = await inject(app, { method: 'DELETE', url: `/orders/${order.id}`, headers: caller('deleter') });

      expectProblem(again, 404, 'not_found');
    });
  });

  describe('request bodies', () => {
    it.each(['owner', 'status', 'id', 'createdAt'])('rejects the %s property', async (property) => {
      const response = await inject(app, {
        method: 'POST',
        url: '/orders',
        headers: caller('mallory'),
        payload: { item: 'rope', quantity: 1, [property]: 'forged' },
      });

      const problem = expectProblem(response, 400, 'validation_failed');
      expect(problem.errors?.map((error) => error.pointer)).toEqual([`/body/${property}`]);
      expect(problem.detail).toContain(`/body/${property}`);
    });

    it.each([
      ['missing item', { quantity: 1 }, '/body/item'],
      ['missing quantity', { item: 'rope' }, '/body/quantity'],
      ['empty item', { item: '', quantity: 1 }, '/body/item'],
      ['long item', { item: 'x'.repeat(101), quantity: 1 }, '/body/item'],
      ['numeric item', { item: 7, quantity: 1 }, '/body/item'],
      ['zero quantity', { item: 'rope', quantity: 0 }, '/body/quantity'],
      ['large quantity', { item: 'rope', quantity: 1001 }, '/body/quantity'],
      ['fractional quantity', { item: 'rope', quantity: 1.5 }, '/body/quantity'],
      ['string quantity', { item: 'rope', quantity: '2' }, '/body/quantity'],
      ['boolean quantity', { item: 'rope', quantity: true }, '/body/quantity'],
    ])('rejects %s', async (_name, payload, pointer) => {
      const response = await inject(app, { method: 'POST', url: '/orders', headers: caller('mallory'), payload });

      const problem = expectProblem(response, 400, 'validation_failed');
      expect(problem.errors?.map((error) => error.pointer)).toContain(pointer);
    });

    it('rejects an array body', async () => {
      const response = await inject(app, {
        method: 'POST',
        url: '/orders',
        headers: caller('mallory'),
        payload: [{ item: 'rope', quantity: 1 }],
      });

      expectProblem(response, 400, 'validation_failed');
    });

    it.each(['text/plain', 'application/x-www-form-urlencoded', 'application/xml'])(
      'rejects content type %s',
      async (contentType) => {
        const response = await inject(app, {
          method: 'POST',
          url: '/orders',
          headers: { ...caller('mallory'), 'content-type': contentType },
          payload: 'item=rope&quantity=1',
        });

        expectProblem(response, 415, 'unsupported_media_type');
      },
    );

    it.each([
      ['malformed JSON', '{"item": "rope", "quantity": '],
      ['an empty JSON body', ''],
    ])('rejects %s', async (_case, payload) => {
      const response = await inject(app, {
        method: 'POST',
        url: '/orders',
        headers: { ...caller('mallory'), 'content-type': 'application/json' },
        payload,
      });

      expectProblem(response, 400, 'invalid_json');
    });

    it.each([
      ['__proto__', '{"item":"rope","quantity":1,"__proto__":{"owner":"alice"}}'],
      ['constructor.prototype', '{"item":"rope","quantity":1,"constructor":{"prototype":{"owner":"alice"}}}'],
    ])('rejects a %s key', async (_name, payload) => {
      const response = await inject(app, {
        method: 'POST',
        url: '/orders',
        headers: { ...caller('mallory'), 'content-type': 'application/json' },
        payload,
      });

      expectProblem(response, 400, 'invalid_json');
      expect(({} as Record<string, unknown>)['owner']).toBeUndefined();
    });
  });

  describe('identity and scopes', () => {
    it('requires the gateway identity', async () => {
      const response = await inject(app, { url: '/orders' });

      expectProblem(response, 401, 'unauthorized');
      expect(response.headers['www-authenticate']).toBe('Bearer realm="portcullis"');
    });

    it('rejects an empty subject', async () => {
      const response = await inject(app, { url: '/orders', headers: caller('') });

      expectProblem(response, 401, 'unauthorized');
    });

    it('checks identity before the body', async () => {
      const response = await inject(app, {
        method: 'POST',
        url: '/orders',
        headers: { 'content-type': 'application/json' },
        payload: '{"owner": ',
      });

      expectProblem(response, 401, 'unauthorized');
    });

    it('requires identity on unknown paths', async () => {
      const anonymous = await inject(app, { url: '/nowhere' });
      expectProblem(anonymous, 401, 'unauthorized');

      const known = await inject(app, { url: '/nowhere', headers: caller('alice') });
      expectProblem(known, 404, 'not_found');
    });

    it.each([
      ['POST', '/orders', 'orders:read', 'orders:write'],
      ['GET', '/orders', 'orders:write', 'orders:read'],
      ['GET', `/orders/${randomUUID()}`, 'orders:write', 'orders:read'],
      ['DELETE', `/orders/${randomUUID()}`, 'orders:read', 'orders:write'],
    ] as const)('rejects %s %s without scope', async (method, url, scope, missing) => {
      const response = await inject(app, {
        method,
        url,
        headers: caller('limited', { scope }),
        payload: method === 'POST' ? { item: 'rope', quantity: 1 } : undefined,
      });

      const problem = expectProblem(response, 403, 'insufficient_scope');
      expect(problem.detail).toContain(missing);
      expect(response.headers['www-authenticate']).toContain('error="insufficient_scope"');
      expect(response.headers['www-authenticate']).toContain(`scope="${missing}"`);
    });

    it('checks scope before the body', async () => {
      const response = await inject(app, {
        method: 'POST',
        url: '/orders',
        headers: caller('reader', { scope: 'orders:read' }),
        payload: { owner: 'alice' },
      });

      expectProblem(response, 403, 'insufficient_scope');
    });
  });

  describe('signed identity', () => {
    const identityClaims = {
      scope: READ_WRITE,
      roles: [],
      client_id: 'test-client',
      credential: 'jwt',
      htm: 'GET',
      target: '/orders',
    };

    async function getOrders(assertion: string): Promise<LightMyRequestResponse> {
      return app.inject({ url: '/orders', headers: { 'x-portcullis-identity': assertion } });
    }

    it('rejects plain identity headers', async () => {
      const response = await app.inject({
        url: '/orders',
        headers: { 'x-portcullis-subject': 'alice', 'x-portcullis-scope': READ_WRITE, 'x-portcullis-credential': 'jwt' },
      });

      expectProblem(response, 401, 'unauthorized');
    });

    it('rejects an assertion signed by another key', async () => {
      const { privateKey } = generateKeyPairSync('ed25519');
      const forged = await new SignJWT({ ...identityClaims })
        .setProtectedHeader({ alg: 'EdDSA', typ: 'portcullis-identity+jwt', kid: (await signer.publicJwk()).kid })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject('alice')
        .setJti(randomUUID())
        .setIssuedAt()
        .setExpirationTime('30s')
        .sign(privateKey);

      const problem = expectProblem(await getOrders(forged), 401, 'unauthorized');
      expect(problem.detail).toContain('signature is invalid');
    });

    it('rejects an unsigned assertion', async () => {
      const unsigned = new UnsecuredJWT({ ...identityClaims })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject('alice')
        .setJti(randomUUID())
        .setIssuedAt()
        .setExpirationTime('30s')
        .encode();

      expectProblem(await getOrders(unsigned), 401, 'unauthorized');
    });

    it('rejects an expired assertion', async () => {
      const headers = await assertionHeader(caller('alice'), 'GET', '/orders');
      expect((await app.inject({ url: '/orders', headers })).statusCode).toBe(200);

      // Past the 30-second lifetime and the verifier's 5 seconds of clock tolerance.
      vi.useFakeTimers({ toFake: ['Date'] });
      try {
        vi.setSystemTime(Date.now() + 36_000);
        const problem = expectProblem(await app.inject({ url: '/orders', headers }), 401, 'unauthorized');
        expect(problem.detail).toContain('expired');
      } finally {
        vi.useRealTimers();
      }
    });

    it.each([
      ['another method', 'DELETE', '/orders'],
      ['another path', 'GET', '/admin/orders'],
      ['another query', 'GET', '/orders?limit=1'],
    ])('rejects an assertion replayed with %s', async (_case, method, url) => {
      const headers = await assertionHeader(caller('alice'), 'GET', '/orders');

      const response = await app.inject({ method: method as 'GET', url, headers });

      const problem = expectProblem(response, 401, 'unauthorized');
      expect(problem.detail).toContain('another method or path');
    });

    it('rejects an assertion for another audience', async () => {
      const other = new IdentityAssertionSigner({ seed: randomBytes(32), issuer: ISSUER, audience: 'https://other.example/api' });
      const app2 = createOrdersApi({
        logger: createLogger('silent'),
        identityAssertion: { issuer: ISSUER, audience: AUDIENCE, jwks: await other.publicJwks() },
      });
      const identity = { subject: 'alice', scopes: ['orders:read'], roles: [], clientId: 'c', credential: 'jwt' as const };
      const assertion = await other.sign(identity, { method: 'GET', target: '/orders', requestId: randomUUID() });

      const response = await app2.inject({ url: '/orders', headers: { 'x-portcullis-identity': assertion } });

      const problem = expectProblem(response, 401, 'unauthorized');
      expect(problem.detail).toContain('"aud"');
      await app2.close();
    });

    it('rejects two assertion headers', async () => {
      const { 'x-portcullis-identity': assertion } = await assertionHeader(caller('alice'), 'GET', '/orders');
      const response = await app.inject({
        url: '/orders',
        headers: { 'x-portcullis-identity': [assertion as string, assertion as string] },
      });

      expectProblem(response, 400, 'invalid_request');
      expect(response.headers['www-authenticate']).toContain('error="invalid_request"');
    });
  });

  describe('admin listing', () => {
    it('rejects the admin scope without role', async () => {
      const response = await inject(app, { url: '/admin/orders', headers: caller('boss', { scope: 'admin' }) });

      const problem = expectProblem(response, 403, 'forbidden');
      expect(problem.detail).toContain('admin');
    });

    it('rejects the admin role without scope', async () => {
      const response = await inject(app, {
        url: '/admin/orders',
        headers: caller('boss', { scope: READ_WRITE, roles: 'admin' }),
      });

      expectProblem(response, 403, 'insufficient_scope');
    });

    it("lists everyone's orders", async () => {
      const alices = await place('admin-view-alice');
      const bobs = await place('admin-view-bob');

      const response = await inject(app, {
        url: `/admin/orders?limit=${MAX_PAGE_SIZE}`,
        headers: caller('boss', { scope: 'admin', roles: 'user admin' }),
      });

      expect(response.statusCode).toBe(200);
      const page = response.json<Page>();
      expect(page.items[0]).toEqual(bobs);
      expect(page.items[1]).toEqual(alices);
    });

    it('pages through all orders', async () => {
      const headers = caller('boss', { scope: 'admin', roles: 'admin' });

      const first = await inject(app, { url: '/admin/orders?limit=1', headers });
      const firstPage = first.json<Page>();
      expect(firstPage.items).toHaveLength(1);
      expect(firstPage.next_cursor).toBeTypeOf('string');

      const second = await inject(app, { url: `/admin/orders?limit=1&cursor=${firstPage.next_cursor}`, headers });
      const secondPage = second.json<Page>();
      expect(secondPage.items).toHaveLength(1);
      expect(secondPage.items[0]?.id).not.toBe(firstPage.items[0]?.id);
    });

    it('rejects an owner listing cursor', async () => {
      await place('cursor-mixer');
      await place('cursor-mixer');
      const own = await listPage('cursor-mixer', '?limit=1');

      const response = await inject(app, {
        url: `/admin/orders?cursor=${own.next_cursor}`,
        headers: caller('boss', { scope: 'admin', roles: 'admin' }),
      });

      expectProblem(response, 400, 'invalid_request');
    });

    it.each(['0', '101', 'abc'])('rejects limit "%s"', async (limit) => {
      const response = await inject(app, {
        url: `/admin/orders?limit=${limit}`,
        headers: caller('boss', { scope: 'admin', roles: 'admin' }),
      });

      expectProblem(response, 400, 'validation_failed');
    });
  });
});

describe('demo Orders API options', () => {
  it('caps orders per owner', async () => {
    const app = ordersApi({ maxOrdersPerOwner: 2 });
    const post = () =>
      inject(app, { method: 'POST', url: '/orders', headers: caller('hoarder'), payload: { item: 'x', quantity: 1 } });

    const first = await post();
    expect(first.statusCode).toBe(201);
    expect((await post()).statusCode).toBe(201);

    const problem = expectProblem(await post(), 409, 'conflict');
    expect(problem.detail).toContain('2 orders');

    const other = await inject(app, { method: 'POST', url: '/orders', headers: caller('saver'), payload: { item: 'x', quantity: 1 } });
    expect(other.statusCode).toBe(201);

    const removed = await inject(app, { method: 'DELETE', url: `/orders/${first.json<Order>().id}`, headers: caller('hoarder') });
    expect(removed.statusCode).toBe(204);
    expect((await post()).statusCode).toBe(201);

    await app.close();
  });

  it('uses the public prefix in Location', async () => {
    const app = ordersApi({ publicPrefix: '/shop/v1/' });

    const response = await inject(app, {
      method: 'POST',
      url: '/orders',
      headers: caller('prefixed'),
      payload: { item: 'x', quantity: 1 },
    });

    expect(response.headers.location).toBe(`/shop/v1/orders/${response.json<Order>().id}`);
    await app.close();
  });

  it('rejects invalid options', () => {
    const logger = createLogger('silent');

    expect(() => createOrdersApi({ logger, identityAssertion, publicPrefix: 'api' })).toThrow(RangeError);
    expect(() => createOrdersApi({ logger, identityAssertion, maxOrdersPerOwner: 0 })).toThrow(RangeError);
    expect(() => createOrdersApi({ logger, identityAssertion, maxOrdersPerOwner: 1.5 })).toThrow(RangeError);
  });

  it('serves over real HTTP', async () => {
    const app = ordersApi();
    const address = await app.listen({ host: '127.0.0.1', port: 0 });

    try {
      const created = await fetch(`${address}/orders`, {
        method: 'POST',
        headers: { ...(await assertionHeader(caller('wire'), 'POST', '/orders')), 'content-type': 'application/json' },
        body: JSON.stringify({ item: 'rope', quantity: 2 }),
      });
      expect(created.status).toBe(201);

      const wrongType = await fetch(`${address}/orders`, {
        method: 'POST',
        headers: { ...(await assertionHeader(caller('wire'), 'POST', '/orders')), 'content-type': 'text/plain' },
        body: 'rope',
      });
      expect(wrongType.status).toBe(415);
      expect(wrongType.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    } finally {
      await app.close();
    }
  });
});
