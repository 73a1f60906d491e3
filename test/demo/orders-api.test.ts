import { afterAll, describe, expect, it } from 'vitest';

import { createOrdersApi } from '../../src/demo/orders-api.js';
import { createLogger } from '../../src/http/logger.js';

const app = createOrdersApi({ logger: createLogger('silent'), maxOrdersPerOwner: 3 });

function as(subject: string, scope = 'orders:read orders:write', roles = ''): Record<string, string> {
  return {
    'x-portcullis-subject': subject,
    'x-portcullis-scope': scope,
    'x-portcullis-roles': roles,
    'x-portcullis-client-id': 'test-client',
  };
}

async function place(subject: string, item: string) {
  return app.inject({ method: 'POST', url: '/orders', headers: as(subject), payload: { item, quantity: 1 } });
}

describe('demo Orders API', () => {
  afterAll(async () => {
    await app.close();
  });

  it('pages through own orders', async () => {
    for (const item of ['a', 'b', 'c']) {
      expect((await place('pager', item)).statusCode).toBe(201);
    }
    await place('someone-else', 'z');

    const first = await app.inject({ url: '/orders?limit=2', headers: as('pager') });
    const firstPage = first.json<{ items: Array<{ item: string }>; next_cursor: string }>();
    expect(firstPage.items.map((order) => order.item)).toEqual(['a', 'b']);
    expect(firstPage.next_cursor).toBeTypeOf('string');

    const second = await app.inject({ url: `/orders?limit=2&cursor=${firstPage.next_cursor}`, headers: as('pager') });
    const secondPage = second.json<{ items: Array<{ item: string }>; next_cursor: string | null }>();
    expect(secondPage.items.map((order) => order.item)).toEqual(['c']);
    expect(secondPage.next_cursor).toBeNull();
  });

  it('sets Location on creation', async () => {
    const response = await place('located', 'rope');
    expect(response.headers.location).toBe(`/api/orders/${response.json<{ id: string }>().id}`);
  });

  it('rejects a forged cursor', async () => {
    const response = await app.inject({ url: '/orders?cursor=bm90LWEtY3Vyc29y', headers: as('pager') });
    expect(response.statusCode).toBe(400);
    expect(response.json<{ detail: string }>().detail).toContain('cursor');
  });

  it.each(['0', '101', 'abc', '1.5'])('rejects limit %s', async (limit) => {
    const response = await app.inject({ url: `/orders?limit=${limit}`, headers: as('pager') });
    expect(response.statusCode).toBe(400);
    expect(response.json<{ code: string }>().code).toBe('validation_failed');
  });

  it('requires the gateway identity', async () => {
    const response = await app.inject({ url: '/orders' });
    expect(response.statusCode).toBe(401);
  });

  it('requires the write scope to create', async () => {
    const response = await app.inject({ method: 'POST', url: '/orders', headers: as('reader', 'orders:read'), payload: { item: 'x', quantity: 1 } });
    expect(response.statusCode).toBe(403);
    expect(response.json<{ code: string }>().code).toBe('insufficient_scope');
  });

  it('caps orders per owner', async () => {
    for (const item of ['1', '2', '3']) {
      await place('hoarder', item);
    }
    const response = await place('hoarder', '4');
    expect(response.statusCode).toBe(409);
    expect(response.json<{ code: string }>().code).toBe('conflict');
  });

  it('deletes only own orders', async () => {
    const order = (await place('deleter', 'x')).json<{ id: string }>();

    expect((await app.inject({ method: 'DELETE', url: `/orders/${order.id}`, headers: as('thief') })).statusCode).toBe(404);
    expect((await app.inject({ method: 'DELETE', url: `/orders/${order.id}`, headers: as('deleter') })).statusCode).toBe(204);
    expect((await app.inject({ url: `/orders/${order.id}`, headers: as('deleter') })).statusCode).toBe(404);
  });

  it('lists everything for admins only', async () => {
    const withoutRole = await app.inject({ url: '/admin/orders', headers: as('boss', 'admin') });
    expect(withoutRole.statusCode).toBe(403);
    expect(withoutRole.json<{ code: string }>().code).toBe('forbidden');

    const admin = await app.inject({ url: '/admin/orders?limit=100', headers: as('boss', 'admin', 'admin') });
    expect(admin.statusCode).toBe(200);
    const owners = new Set(admin.json<{ items: Array<{ owner: string }> }>().items.map((order) => order.owner));
    expect(owners.has('pager')).toBe(true);
    expect(owners.has('someone-else')).toBe(true);
  });

  it('rejects quantities out of range', async () => {
    for (const quantity of [0, 1001, 1.5, '2']) {
      const response = await app.inject({ method: 'POST', url: '/orders', headers: as('ranger'), payload: { item: 'x', quantity } });
      expect(response.statusCode, String(quantity)).toBe(400);
    }
  });
});
