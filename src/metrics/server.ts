import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Logger } from 'pino';

import { PROBLEM_CONTENT_TYPE, toProblemDocument } from '../core/problem.js';
import { hostHeaderProblem } from '../http/host-header.js';
import type { Metrics } from './metrics.js';

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` in the Prometheus text format on its own listener,
 * apart from the public one, so scrapes bypass authentication and rate
 * limits only where the operator chose to listen.
 */
export async function startMetricsServer(metrics: Metrics, host: string, port: number, logger: Logger): Promise<MetricsServer> {
  // Node.js would reject a request without Host with a bare 400 of its own,
  // so the handler checks Host and sends a problem document instead.
  const server: Server = createServer({ requireHostHeader: false }, (request, response) => {
    const hostProblem = hostHeaderProblem(request);
    if (hostProblem !== undefined) {
      const body = JSON.stringify(toProblemDocument(hostProblem));
      response
        .writeHead(hostProblem.status, {
          'content-type': PROBLEM_CONTENT_TYPE,
          'content-length': Buffer.byteLength(body),
          'cache-control': 'no-store',
          'x-content-type-options': 'nosniff',
        })
        .end(body);
      return;
    }

    const path = (request.url ?? '').split('?')[0];
    if (path !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found. Metrics are at GET /metrics.\n');
      return;
    }

    metrics.registry.metrics().then(
      (body) => response.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' }).end(body),
      (error: unknown) => {
        logger.error({ err: error }, 'collecting metrics failed');
        response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('Collecting metrics failed.\n');
      },
    );
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  const address = server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}/metrics`;
  return {
    url,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
