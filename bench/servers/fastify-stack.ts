/**
 * The same gateway built with Fastify and its official plugins:
 * @fastify/helmet, @fastify/cors, @fastify/rate-limit (in memory), a jose
 * bearer check in an onRequest hook, and @fastify/reply-from.
 *
 * Environment: BENCH_UPSTREAM_URL, BENCH_JWKS, BENCH_ISSUER, BENCH_AUDIENCE.
 */
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import replyFrom from '@fastify/reply-from';
import Fastify from 'fastify';
import type { AddressInfo } from 'node:net';

import { BENCH_ORIGIN, UNREACHABLE_LIMIT_PER_MINUTE, accessTokenCheck, announcePort, requireEnv } from '../lib/server-env.js';

const checkToken = accessTokenCheck();
const app = Fastify({ logger: false, keepAliveTimeout: 65_000 });

await app.register(helmet);
await app.register(cors, { origin: [BENCH_ORIGIN] });
await app.register(rateLimit, { max: UNREACHABLE_LIMIT_PER_MINUTE, timeWindow: 60_000 });
await app.register(replyFrom, { base: requireEnv('BENCH_UPSTREAM_URL') });

app.addHook('onRequest', async (request, reply) => {
  if (!(await checkToken(request.headers.authorization))) {
    return reply.code(401).header('www-authenticate', 'Bearer').send();
  }
  return undefined;
});
app.get('/api/orders', (_request, reply) => reply.from('/orders'));

await app.listen({ host: '127.0.0.1', port: 0 });
announcePort((app.server.address() as AddressInfo).port);
process.once('SIGTERM', () => {
  app.close().then(() => process.exit(0));
});
