// An orders service in Fastify, protected by the Portcullis library.
//
// It accepts the identity that a Portcullis gateway in front of it signs,
// and access tokens sent to it directly, and checks both against the
// issuer's published keys. Run it with `npm run build && node examples/fastify.js`.
//
// Settings: PORTCULLIS_ISSUER (default http://127.0.0.1:8080), PORT (default 3000),
// PORTCULLIS_UPSTREAM: this service's upstream name in the gateway (default `default`).

import Fastify from 'fastify';
import { createRateLimiter, requireOwned } from 'portcullis';
import { identityOf, portcullis } from 'portcullis/fastify';
import { randomUUID } from 'node:crypto';

const issuer = process.env.PORTCULLIS_ISSUER ?? 'http://127.0.0.1:8080';
const port = Number(process.env.PORT ?? 3000);
const upstream = process.env.PORTCULLIS_UPSTREAM ?? 'default';

// The outbound guard that fetches the keys blocks plain http and internal
// addresses. A Portcullis on this machine needs both opened for its host.
const issuerUrl = new URL(issuer);
const local = ['127.0.0.1', 'localhost', '[::1]'].includes(issuerUrl.hostname);
const outbound = local
  ? { allowHttp: true, allowedPorts: [Number(issuerUrl.port || 80)], allowedHosts: [{ name: issuerUrl.hostname, allowInternal: true }] }
  : {};

// Unknown body properties are rejected instead of silently removed.
const app = Fastify({ logger: true, ajv: { customOptions: { removeAdditional: false } } });

await app.register(portcullis, {
  identityAssertions: { issuer, audience: `${issuer}/api`, jwksUrl: `${issuer}/.well-known/portcullis-identity-jwks.json`, outbound, upstream },
  accessTokens: { issuer, audience: `${issuer}/api`, jwksUrl: `${issuer}/.well-known/jwks.json`, outbound },
  rateLimit: {
    limiter: createRateLimiter(),
    limits: [{ name: 'per-user', key: ['sub'], limit: 20, period: '1s', onStoreFailure: 'open' }],
  },
});

/** Orders by id, in memory. */
const orders = new Map();

app.get('/health', { config: { portcullis: { public: true } } }, async () => ({ status: 'ok' }));

const orderBody = {
  type: 'object',
  required: ['item', 'quantity'],
  additionalProperties: false,
  properties: { item: { type: 'string', minLength: 1, maxLength: 100 }, quantity: { type: 'integer', minimum: 1 } },
};

app.post('/orders', { schema: { body: orderBody }, config: { portcullis: { scopes: ['orders:write'] } } }, async (request, reply) => {
  const order = { id: randomUUID(), ...request.body, owner: identityOf(request).subject };
  orders.set(order.id, order);
  return reply.code(201).send(order);
});

app.get('/orders/:id', { config: { portcullis: { scopes: ['orders:read'] } } }, async (request) => {
  const { id } = request.params;
  return requireOwned(identityOf(request), () => orders.get(id), (found) => found.owner, { resourceName: 'order', id });
});

const url = await app.listen({ host: '127.0.0.1', port });
console.log(JSON.stringify({ msg: 'orders service listening', url }));
