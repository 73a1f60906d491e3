import type { FastifyInstance, FastifyRequest } from 'fastify';

import { readIdentityHeaders, type Identity } from '../core/identity-headers.js';
import { ProblemError } from '../core/problem.js';
import { createHttpApp } from '../http/create-app.js';
import type { Logger } from '../http/logger.js';
import { InvalidCursorError, OrderLimitError, OrderStore } from './order-store.js';

export interface OrdersApiOptions {
  logger: Logger;
  /** Path prefix under which clients reach this service through the gateway, for `Location` headers. Default `/api`. */
  publicPrefix?: string;
  /** Most orders one owner may keep. Default 1000. */
  maxOrdersPerOwner?: number;
}

/** Largest page size; larger `limit` values are rejected, not clamped, so clients notice. */
export const MAX_PAGE_SIZE = 100;
const DEFAULT_PAGE_SIZE = 20;

const orderBody = {
  type: 'object',
  required: ['item', 'quantity'],
  additionalProperties: false,
  properties: {
    item: { type: 'string', minLength: 1, maxLength: 100 },
    quantity: { type: 'integer', minimum: 1, maximum: 1000 },
  },
} as const;

const pageQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE },
    cursor: { type: 'string', minLength: 1, maxLength: 64 },
  },
} as const;

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

interface PageQuery {
  limit: number;
  cursor?: string;
}

/** Returns the caller established by the gateway, or throws 401. */
function caller(request: FastifyRequest): Identity {
  const identity = readIdentityHeaders(request.headers);
  if (identity === undefined) {
    throw new ProblemError('unauthorized', 'This service is reachable only through the gateway, which identifies the caller.');
  }
  return identity;
}

/** Checks a scope again behind the gateway (defence in depth). */
function requireScope(identity: Identity, scope: string): void {
  if (!identity.scopes.includes(scope)) {
    throw new ProblemError('insufficient_scope', `This operation requires the scope ${scope}.`);
  }
}

function orderNotFound(id: string): ProblemError {
  return new ProblemError('not_found', `No order with id '${id}'.`);
}

/**
 * Creates the demo Orders API: the upstream that Portcullis protects by
 * default. It trusts the gateway's identity headers, and it enforces
 * object-level authorization itself: a caller sees only their own orders, and
 * someone else's order is treated exactly like a missing one.
 */
export function createOrdersApi(options: OrdersApiOptions): FastifyInstance {
  const app = createHttpApp({ logger: options.logger, bodyLimit: 16_384, maxHeaderSize: 16_384, https: false });
  const store = new OrderStore(options.maxOrdersPerOwner ?? 1000);
  const publicPrefix = options.publicPrefix ?? '/api';

  const listPage = (owner: string | undefined, query: PageQuery) => {
    try {
      const page = store.list(owner, query.limit, query.cursor);
      return { items: page.items, next_cursor: page.nextCursor };
    } catch (error) {
      if (error instanceof InvalidCursorError) {
        throw new ProblemError('invalid_request', 'The cursor is invalid; use next_cursor from a previous page.');
      }
      throw error;
    }
  };

  app.post<{ Body: { item: string; quantity: number } }>('/orders', { schema: { body: orderBody } }, async (request, reply) => {
    const identity = caller(request);
    requireScope(identity, 'orders:write');

    try {
      const order = store.create(identity.subject, request.body.item, request.body.quantity);
      return reply.code(201).header('location', `${publicPrefix}/orders/${order.id}`).send(order);
    } catch (error) {
      if (error instanceof OrderLimitError) {
        throw new ProblemError('conflict', `You already have ${error.limit} orders, the most allowed; delete some first.`);
      }
      throw error;
    }
  });

  app.get<{ Querystring: PageQuery }>('/orders', { schema: { querystring: pageQuery } }, async (request) => {
    const identity = caller(request);
    requireScope(identity, 'orders:read');
    return listPage(identity.subject, request.query);
  });

  app.get<{ Params: { id: string } }>('/orders/:id', { schema: { params: idParams } }, async (request) => {
    const identity = caller(request);
    requireScope(identity, 'orders:read');

    const order = store.findOwned(request.params.id, identity.subject);
    if (order === undefined) {
      throw orderNotFound(request.params.id);
    }
    return order;
  });

  app.delete<{ Params: { id: string } }>('/orders/:id', { schema: { params: idParams } }, async (request, reply) => {
    const identity = caller(request);
    requireScope(identity, 'orders:write');

    if (!store.deleteOwned(request.params.id, identity.subject)) {
      throw orderNotFound(request.params.id);
    }
    return reply.code(204).send();
  });

  app.get<{ Querystring: PageQuery }>('/admin/orders', { schema: { querystring: pageQuery } }, async (request) => {
    const identity = caller(request);
    requireScope(identity, 'admin');
    if (!identity.roles.includes('admin')) {
      throw new ProblemError('forbidden', 'This operation requires the admin role.');
    }
    return listPage(undefined, request.query);
  });

  return app;
}
