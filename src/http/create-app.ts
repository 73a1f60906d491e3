import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';

import { securityHeaders } from '../core/security-headers.js';
import type { Logger } from './logger.js';
import { handleClientError, installProblemHandlers } from './problems.js';

export interface HttpAppOptions {
  logger: Logger;
  /** Largest accepted request body, in bytes. */
  bodyLimit: number;
  /** Largest accepted request head (request line and headers), in bytes. */
  maxHeaderSize: number;
  /** True when clients reach the app over https, which turns on HSTS. */
  https: boolean;
}

/** The schema compiler settings shared by every Portcullis app. */
const AJV_OPTIONS = {
  // Unknown properties are rejected, never silently dropped: dropping them
  // would hide mass-assignment attempts instead of reporting them.
  removeAdditional: false,
  useDefaults: true,
  coerceTypes: 'array',
  allErrors: true,
} as const;

/**
 * Creates a Fastify app with the behaviour every Portcullis listener shares:
 * request ids, problem-details errors, security headers and strict parsing.
 */
export function createHttpApp(options: HttpAppOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimit,
    http: { maxHeaderSize: options.maxHeaderSize },
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    clientErrorHandler: handleClientError,
    ajv: { customOptions: AJV_OPTIONS },
    routerOptions: { ignoreTrailingSlash: false, caseSensitive: true },
  });

  // JSON is the only body format of Portcullis APIs; Fastify would otherwise
  // also accept text/plain.
  app.removeContentTypeParser('text/plain');

  const headers = securityHeaders({ https: options.https });

  app.addHook('onRequest', async (request, reply) => {
    reply.headers(headers);
    reply.header('x-request-id', request.id);
  });

  installProblemHandlers(app);

  return app;
}
