import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import type { Logger } from 'pino';

import { PROBLEM_CONTENT_TYPE, ProblemError, toProblemDocument, type ProblemDocument } from '../core/problem.js';
import { securityHeaders } from '../core/security-headers.js';
import { originFormTarget } from '../http/create-app.js';
import { hostHeaderProblem } from '../http/host-header.js';
import { httpVersionProblem } from '../http/http-version.js';
import { handleClientError } from '../http/problems.js';
import { transferEncodingProblem } from '../http/transfer-encoding.js';
import { rejectUnsupportedRequests } from '../http/unsupported-requests.js';
import type { Metrics } from './metrics.js';

/** The listener serves plain http, so HSTS does not apply. */
const SECURITY_HEADERS = securityHeaders({ https: false });

function sendProblem(response: ServerResponse, document: ProblemDocument, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(document);
  response
    .writeHead(document.status, {
      ...SECURITY_HEADERS,
      ...headers,
      'content-type': PROBLEM_CONTENT_TYPE,
      'content-length': Buffer.byteLength(body),
    })
    .end(body);
}

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
      sendProblem(response, toProblemDocument(hostProblem));
      return;
    }
    // The server cannot tell where the next request of such a connection starts.
    const framingProblem = httpVersionProblem(request) ?? transferEncodingProblem(request);
    if (framingProblem !== undefined) {
      sendProblem(response, toProblemDocument(framingProblem), { connection: 'close' });
      return;
    }

    const path = originFormTarget(request.url ?? '').split('?')[0];
    if (path !== '/metrics') {
      sendProblem(response, toProblemDocument(new ProblemError('not_found', 'Nothing is served here. Metrics are at GET /metrics.')));
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      const problem = new ProblemError('method_not_allowed', `The method ${request.method ?? ''} is not allowed on /metrics. Use GET or HEAD.`);
      sendProblem(response, toProblemDocument(problem), { allow: 'GET, HEAD' });
      return;
    }

    metrics.registry.metrics().then(
      (body) => response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': metrics.registry.contentType }).end(body),
      (error: unknown) => {
        logger.error({ err: error }, 'collecting metrics failed');
        sendProblem(response, toProblemDocument(new ProblemError('internal_error', 'Collecting the metrics failed. The server log names the cause.')));
      },
    );
  });

  // Without these, Node.js responds to malformed HTTP, oversized headers, an
  // unknown Expect and CONNECT with bare responses that lack the security
  // headers, or closes the connection without any response.
  server.on('clientError', (error: Error & { code?: string }, socket: Socket) => handleClientError(error, socket, SECURITY_HEADERS));
  rejectUnsupportedRequests(server, SECURITY_HEADERS, logger);

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
