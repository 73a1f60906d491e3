/**
 * The benchmark upstream: a plain node:http server that returns one fixed
 * page of one JSON order for GET /orders and GET /api/orders, and 404
 * for anything else. It prints its port as a JSON line when it listens.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import { ORDER_BODY } from '../lib/order.js';
import { announcePort } from '../lib/server-env.js';

const ORDER_PATHS = new Set(['/orders', '/api/orders']);

const server = createServer((request, response) => {
  const path = (request.url ?? '/').split('?')[0] ?? '/';
  if (request.method === 'GET' && ORDER_PATHS.has(path)) {
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(ORDER_BODY) });
    response.end(ORDER_BODY);
    return;
  }
  response.writeHead(404, { 'content-type': 'application/json' });
  response.end('{"error":"not found"}');
});

server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  announcePort((server.address() as AddressInfo).port);
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
