import type { FastifyInstance, RouteShorthandOptions } from 'fastify';

/**
 * Deliberately vulnerable to broken object-level authorization (BOLA): the
 * handler lists the orders of whichever user the path names and never
 * compares that user with the caller. The default gateway configuration
 * binds `userId` to the caller's subject, so the gateway refuses what this
 * service would allow. The demo shows that protection, and tests call this
 * service directly to prove the hole is real.
 */

/** Lists one page of a user's orders, newest first. */
export type ListOrdersOf = (userId: string, limit: number, cursor: string | undefined) => unknown;

const userParamsSchema = {
  type: 'object',
  required: ['userId'],
  properties: {
    userId: { type: 'string', minLength: 1, maxLength: 64 },
  },
} as const;

interface UserOrdersRequest {
  Params: { userId: string };
  Querystring: { limit: number; cursor?: string };
}

/**
 * Registers `GET /users/:userId/orders`. `listing` gives the route its query
 * and response schemas and its scope check, shared with `GET /orders`.
 */
export function registerUserOrderRoutes(app: FastifyInstance, listing: RouteShorthandOptions, listOrdersOf: ListOrdersOf): void {
  app.get<UserOrdersRequest>(
    '/users/:userId/orders',
    { ...listing, schema: { ...listing.schema, params: userParamsSchema } },
    async (request) => {
      const { limit, cursor } = request.query;

      return listOrdersOf(request.params.userId, limit, cursor);
    },
  );
}
