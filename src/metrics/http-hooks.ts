import type { FastifyInstance, FastifyRequest } from 'fastify';

import type { Metrics } from './metrics.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The Prometheus metrics, when they are turned on. */
    metrics?: Metrics;
  }
}

/** Tells database errors from others: better-sqlite3 errors carry `SQLITE_*` codes. */
function isDatabaseError(error: Error & { code?: unknown }): boolean {
  return error.name === 'SqliteError' || (typeof error.code === 'string' && error.code.startsWith('SQLITE_'));
}

/**
 * Counts every response of `app` by route template and status, and every
 * database error a request raises.
 *
 * A response is counted when it emits `close`, which it does once it has
 * finished and also when its connection is cut, provided its head was
 * sent. Fastify's onResponse hook would miss a relay that the gateway cut
 * off at its relay timeout, whose head went out with its status but whose
 * body never finished. A request that ends before any response head, such
 * as one whose caller left first, is not counted. The hook must be added
 * before any onRequest hook that can send a response. The 400 for a
 * missing, repeated or invalid Host comes from the app's first onRequest
 * hook and is not counted.
 */
export function installMetricsHooks(app: FastifyInstance, metrics: Metrics): void {
  app.decorate('metrics', metrics);

  app.addHook('onRequest', (request, reply, done) => {
    reply.raw.once('close', () => {
      if (reply.raw.headersSent) {
        metrics.countRequest(request.method, request.routeOptions.url, reply.raw.statusCode);
      }
    });
    done();
  });

  app.addHook('onError', async (_request, _reply, error) => {
    if (isDatabaseError(error)) {
      metrics.countStoreErrors('database');
    }
  });
}

/**
 * Returns a function to call when the upstream response headers arrive; it
 * records the time since this call under the operation's route template.
 */
export function startUpstreamTimer(request: FastifyRequest, method: string, route: string): () => void {
  const metrics = request.server.metrics;
  if (metrics === undefined) {
    return () => {};
  }

  const started = process.hrtime.bigint();
  return () => metrics.observeUpstream(method, route, Number(process.hrtime.bigint() - started) / 1e9);
}
