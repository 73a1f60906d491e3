// An orders service in Express, protected by the Portcullis library.
//
// It accepts the identity that a Portcullis gateway in front of it signs,
// and access tokens sent to it directly, and checks both against the
// issuer's published keys. Run it with `npm run build && node examples/express.js`.
//
// Settings: PORTCULLIS_ISSUER (default http://127.0.0.1:8080), PORT (default 3000),
// PORTCULLIS_UPSTREAM: this service's upstream name in the gateway (default `default`).

import express from 'express';
import { ProblemError, createRateLimiter, requireOwned } from 'portcullis';
import { identityOf, portcullis, problemHandler, securityHeaders } from 'portcullis/express';
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

const auth = portcullis({
  identityAssertions: { issuer, audience: `${issuer}/api`, jwksUrl: `${issuer}/.well-known/portcullis-identity-jwks.json`, outbound, upstream },
  accessTokens: { issuer, audience: `${issuer}/api`, jwksUrl: `${issuer}/.well-known/jwks.json`, outbound },
  rateLimit: {
    limiter: createRateLimiter(),
    limits: [{ name: 'per-user', key: ['sub'], limit: 20, period: '1s', onStoreFailure: 'open' }],
  },
});

/** Orders by id, in memory. */
const orders = new Map();

const app = express();
app.disable('x-powered-by');
app.use(securityHeaders());

// Routes before the middleware are public. requireAccess({ public: true })
// rejects credentials sent in their query string.
app.get('/health', auth.requireAccess({ public: true }), (_request, response) => {
  response.json({ status: 'ok' });
});

app.use(auth);
app.use(express.json({ limit: '16kb' }));

app.post('/orders', auth.requireAccess({ scopes: ['orders:write'] }), (request, response) => {
  const { item, quantity } = request.body ?? {};
  if (typeof item !== 'string' || item === '' || !Number.isInteger(quantity) || quantity < 1) {
    throw new ProblemError('validation_failed', 'Send an item name and a whole quantity of at least 1.');
  }

  const order = { id: randomUUID(), item, quantity, owner: identityOf(request).subject };
  orders.set(order.id, order);
  response.status(201).json(order);
});

// Express 4 does not pass a rejected promise to the error handlers, and
// the process would end on it, so the handler hands errors to next itself.
app.get('/orders/:id', auth.requireAccess({ scopes: ['orders:read'] }), (request, response, next) => {
  const { id } = request.params;
  requireOwned(identityOf(request), () => orders.get(id), (found) => found.owner, { resourceName: 'order', id }).then(
    (order) => response.json(order),
    next,
  );
});

app.use(problemHandler(console));

const server = app.listen(port, '127.0.0.1', () => {
  const { port: boundPort } = server.address();
  console.log(JSON.stringify({ msg: 'orders service listening', url: `http://127.0.0.1:${boundPort}` }));
});
