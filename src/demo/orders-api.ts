import type { FastifyInstance, FastifyRequest } from 'fastify';

import { createHttpApp, identityOf, portcullis, requireAccess, type Logger } from '../library/fastify.js';
import { ProblemError, requireOwned, type IdentityAssertionSettings } from '../library/index.js';
import { OrderImporter, importRequestSchema, type OrderImportOptions } from './order-import.js';
import { InvalidCursorError, OrderLimitError, OrderStore, type Order, type OrderPage } from './order-store.js';
import { registerProfileRoutes } from './profiles.js';
import { registerUserOrderRoutes } from './user-orders.js';

/** Options of the demo Orders API. */
export interface OrdersApiOptions {
  logger: Logger;
  /**
   * Path prefix under which clients reach this service through the gateway,
   * used in `Location` headers. Default `/api`.
   */
  publicPrefix?: string;
  /** Maximum number of orders one owner may keep at a time. Default 1000. */
  maxOrdersPerOwner?: number;
  /** How to verify the gateway's signed identity assertions, the only credential this API accepts. */
  identityAssertion: IdentityAssertionSettings;
  /** Outbound policy and collaborators of `POST /orders/import`. */
  orderImport?: OrderImportOptions;
}

/** Maximum page size. Larger `limit` values are rejected, not clamped, so clients notice. */
export const MAX_PAGE_SIZE = 100;

const DEFAULT_PAGE_SIZE = 20;
const DEFAULT_PUBLIC_PREFIX = '/api';
const DEFAULT_MAX_ORDERS_PER_OWNER = 1000;

/** Request body and request head limits, in bytes. An order body is well under 1 KiB. */
const BODY_LIMIT_BYTES = 16_384;
const HEADER_LIMIT_BYTES = 16_384;

// Route schemas. Unknown properties fail validation, so a client cannot set
// `owner`, `status` or `id` on an order.

const orderBodySchema = {
  type: 'object',
  required: ['item', 'quantity'],
  additionalProperties: false,
  properties: {
    item: { type: 'string', minLength: 1, maxLength: 100 },
    quantity: { type: 'integer', minimum: 1, maximum: 1000 },
  },
} as const;

const pageQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE },
    cursor: { type: 'string', minLength: 1, maxLength: 64 },
  },
} as const;

/**
 * Only the length of an id is checked here. An id of at most 64 characters
 * that this service never issued gets the same 404 as another owner's order.
 */
const orderParamsSchema = {
  type: 'object',
  required: ['id'],
  properties: {
    id: { type: 'string', minLength: 1, maxLength: 64 },
  },
} as const;

// Response schemas make Fastify serialize only the listed properties, so a
// field added to stored orders later is not sent by accident.

const orderSchema = {
  type: 'object',
  required: ['id', 'item', 'quantity', 'status', 'owner', 'createdAt'],
  properties: {
    id: { type: 'string' },
    item: { type: 'string' },
    quantity: { type: 'integer' },
    status: { type: 'string' },
    owner: { type: 'string' },
    createdAt: { type: 'string' },
  },
} as const;

const pageSchema = {
  type: 'object',
  required: ['items', 'next_cursor'],
  properties: {
    items: { type: 'array', items: orderSchema },
    next_cursor: { type: ['string', 'null'] },
  },
} as const;

interface OrderBody {
  item: string;
  quantity: number;
}

interface ImportBody {
  url: string;
}

interface PageQuery {
  limit: number;
  cursor?: string;
}

interface OrderParams {
  id: string;
}

/** The JSON body of a listing response. */
interface PageBody {
  items: Order[];
  next_cursor: string | null;
}

function normalizePublicPrefix(prefix: string): string {
  if (prefix !== '' && !prefix.startsWith('/')) {
    throw new RangeError(`publicPrefix must be empty or start with '/', got '${prefix}'.`);
  }

  return prefix.replace(/\/+$/, '');
}

/**
 * Rejects a `limit` that is not plain decimal digits. The shared query
 * validator coerces strings to numbers, which would otherwise accept `0x10`,
 * `1e1`, `5.0` and ` 5` as integers.
 */
async function requireDecimalLimit(request: FastifyRequest): Promise<void> {
  const { limit } = request.query as Record<string, unknown>;
  if (typeof limit !== 'string' || /^[0-9]+$/.test(limit)) {
    return;
  }

  const detail = `must be a whole number from 1 to ${MAX_PAGE_SIZE} in decimal digits`;
  throw new ProblemError('validation_failed', `The request is invalid: /querystring/limit: ${detail}.`, {
    errors: [{ pointer: '/querystring/limit', detail }],
  });
}

function orderNotFound(id: string): ProblemError {
  return new ProblemError('not_found', `No order with id '${id}' exists.`);
}

/** Runs a store listing and maps its errors and result to the response body. */
function listPage(list: () => OrderPage): PageBody {
  try {
    const page = list();
    return { items: page.items, next_cursor: page.nextCursor };
  } catch (error) {
    if (error instanceof InvalidCursorError) {
      throw new ProblemError(
        'invalid_request',
        'The cursor is invalid. Use the next_cursor value of a previous page of the same listing.',
      );
    }

    throw error;
  }
}

function createOrder(store: OrderStore, owner: string, body: OrderBody): Order {
  try {
    return store.create(owner, body.item, body.quantity);
  } catch (error) {
    if (error instanceof OrderLimitError) {
      throw new ProblemError(
        'conflict',
        `You already have ${error.limit} orders, the maximum per owner. Delete some before placing new ones.`,
      );
    }

    throw error;
  }
}

function registerOrderRoutes(app: FastifyInstance, store: OrderStore, publicPrefix: string): void {
  app.post<{ Body: OrderBody }>(
    '/orders',
    {
      schema: { body: orderBodySchema, response: { 201: orderSchema } },
      config: { portcullis: { scopes: ['orders:write'] } },
    },
    async (request, reply) => {
      const order = createOrder(store, identityOf(request).subject, request.body);

      return reply.code(201).header('location', `${publicPrefix}/orders/${order.id}`).send(order);
    },
  );

  app.get<{ Querystring: PageQuery }>(
    '/orders',
    {
      schema: { querystring: pageQuerySchema, response: { 200: pageSchema } },
      config: { portcullis: { scopes: ['orders:read'] } },
      preValidation: requireDecimalLimit,
    },
    async (request) => {
      const { limit, cursor } = request.query;

      return listPage(() => store.listOwned(identityOf(request).subject, limit, cursor));
    },
  );

  app.get<{ Params: OrderParams }>(
    '/orders/:id',
    {
      schema: { params: orderParamsSchema, response: { 200: orderSchema } },
      config: { portcullis: { scopes: ['orders:read'] } },
    },
    async (request) => {
      const { id } = request.params;

      return requireOwned(identityOf(request), () => store.find(id), (order) => order.owner, { resourceName: 'order', id });
    },
  );

  app.delete<{ Params: OrderParams }>(
    '/orders/:id',
    {
      schema: { params: orderParamsSchema },
      config: { portcullis: { scopes: ['orders:write'] } },
    },
    async (request, reply) => {
      if (!store.deleteOwned(request.params.id, identityOf(request).subject)) {
        throw orderNotFound(request.params.id);
      }

      return reply.code(204).send();
    },
  );
}

/**
 * Registers `POST /orders/import`, which places an order for the caller from
 * a JSON order document at a URL the caller names. The URL is fetched only
 * through the outbound guard, so it cannot reach internal services.
 */
function registerImportRoute(app: FastifyInstance, store: OrderStore, publicPrefix: string, importer: OrderImporter): void {
  app.post<{ Body: ImportBody }>(
    '/orders/import',
    {
      schema: { body: importRequestSchema, response: { 201: orderSchema } },
      config: { portcullis: { scopes: ['orders:write'] } },
    },
    async (request, reply) => {
      const imported = await importer.fetchOrder(request.body.url, request.log);
      const order = createOrder(store, identityOf(request).subject, imported);

      return reply.code(201).header('location', `${publicPrefix}/orders/${order.id}`).send(order);
    },
  );
}

function registerAdminRoutes(app: FastifyInstance, store: OrderStore): void {
  app.get<{ Querystring: PageQuery }>(
    '/admin/orders',
    {
      schema: { querystring: pageQuerySchema, response: { 200: pageSchema } },
      // Scopes are checked before roles, so a caller without the scope gets
      // insufficient_scope even when the role is missing too.
      config: { portcullis: { scopes: ['admin'], roles: ['admin'] } },
      preValidation: requireDecimalLimit,
    },
    async (request) => {
      const { limit, cursor } = request.query;

      return listPage(() => store.listAll(limit, cursor));
    },
  );
}

/**
 * Creates the demo Orders API: the upstream that Portcullis protects by
 * default, built on the Portcullis library as any service would be.
 *
 * It accepts only the gateway's signed identity assertions, so a request
 * that reaches it without the gateway, or with forged identity headers,
 * gets 401. It enforces object-level authorization itself. A caller sees only their own orders, and another
 * owner's order gets the same 404 as a missing one. Orders are kept in
 * memory and lost when the process stops.
 *
 * Paths are relative to the gateway's mount path, which the gateway strips
 * before it forwards a request: `POST /orders`, `GET /orders`,
 * `GET /orders/:id`, `DELETE /orders/:id`, `POST /orders/import`,
 * `GET /users/:userId/orders`, `GET /admin/orders`, and the deliberately
 * flawed `GET` and `PATCH /users/:userId/profile` (see profiles.ts). The
 * per-user listing trusts its path and relies on the gateway's object-level
 * binding; the profiles are safe only behind the gateway's OpenAPI checks.
 */
export function createOrdersApi(options: OrdersApiOptions): FastifyInstance {
  const publicPrefix = normalizePublicPrefix(options.publicPrefix ?? DEFAULT_PUBLIC_PREFIX);
  const store = new OrderStore(options.maxOrdersPerOwner ?? DEFAULT_MAX_ORDERS_PER_OWNER);

  const app = createHttpApp({
    logger: options.logger,
    bodyLimit: BODY_LIMIT_BYTES,
    maxHeaderSize: HEADER_LIMIT_BYTES,
    https: false,
  });

  // Every path needs a caller, including unknown ones, and the plugin checks
  // it before the body is parsed. Fastify adds the routes below once the
  // plugin has loaded, so its hooks apply to them.
  void app.register(portcullis, { identityAssertions: options.identityAssertion, securityHeaders: false, problemHandlers: false });

  registerOrderRoutes(app, store, publicPrefix);
  registerUserOrderRoutes(
    app,
    { schema: { querystring: pageQuerySchema, response: { 200: pageSchema } }, onRequest: requireAccess({ scopes: ['orders:read'] }), preValidation: requireDecimalLimit },
    (userId, limit, cursor) => listPage(() => store.listOwned(userId, limit, cursor)),
  );
  registerImportRoute(app, store, publicPrefix, new OrderImporter(options.orderImport));
  registerAdminRoutes(app, store);
  // The profiles reuse the order scopes, which are the only API scopes the authorization server issues.
  registerProfileRoutes(app, {
    caller: identityOf,
    read: requireAccess({ scopes: ['orders:read'] }),
    write: requireAccess({ scopes: ['orders:write'] }),
  });

  return app;
}
