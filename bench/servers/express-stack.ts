/**
 * The Express gateway that a typical user writes: helmet, cors,
 * express-rate-limit (in memory), a jose bearer check and
 * http-proxy-middleware under /api.
 *
 * Environment: BENCH_UPSTREAM_URL, BENCH_JWKS, BENCH_ISSUER, BENCH_AUDIENCE.
 */
import { Agent } from 'node:http';
import type { AddressInfo } from 'node:net';
import cors from 'cors';
import express from 'express';
import { rateLimit } from 'express-rate-limit';
import helmet from 'helmet';
import { createProxyMiddleware } from 'http-proxy-middleware';

import { BENCH_ORIGIN, UNREACHABLE_LIMIT_PER_MINUTE, accessTokenCheck, announcePort, requireEnv } from '../lib/server-env.js';

const checkToken = accessTokenCheck();
const app = express();

app.use(helmet());
app.use(cors({ origin: [BENCH_ORIGIN] }));
app.use(rateLimit({ windowMs: 60_000, limit: UNREACHABLE_LIMIT_PER_MINUTE, standardHeaders: 'draft-8', legacyHeaders: false }));
app.use((request, response, next) => {
  checkToken(request.headers.authorization).then((valid) => {
    if (valid) {
      next();
    } else {
      response.status(401).set('www-authenticate', 'Bearer').end();
    }
  }, next);
});
// Mounted under /api, so Express strips the prefix and the upstream receives
// /orders. Without an agent, http-proxy sets `agent: false` and opens a new
// upstream connection per request. The keep-alive agent matches the other
// stacks, which all reuse upstream connections.
const upstreamAgent = new Agent({ keepAlive: true, maxSockets: 256 });
app.use('/api', createProxyMiddleware({ target: requireEnv('BENCH_UPSTREAM_URL'), agent: upstreamAgent }));

const server = app.listen(0, '127.0.0.1', () => announcePort((server.address() as AddressInfo).port));
server.keepAliveTimeout = 65_000;
process.once('SIGTERM', () => server.close(() => process.exit(0)));
