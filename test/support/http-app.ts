import type { FastifyInstance } from 'fastify';

import { createHttpApp, type HttpAppOptions } from '../../src/http/create-app.js';
import { createLogger } from '../../src/http/logger.js';

/**
 * Creates the shared Fastify app with small limits and returns it with the
 * log lines it writes. `options` may set the other options of the app.
 */
export function loggedHttpApp(options: { https: boolean } & Partial<Omit<HttpAppOptions, 'logger'>>): { app: FastifyInstance; logs: string[] } {
  const logs: string[] = [];
  const app = createHttpApp({
    logger: createLogger('info', { write: (line: string) => void logs.push(line) }),
    bodyLimit: 1024,
    maxHeaderSize: 8192,
    ...options,
  });
  return { app, logs };
}

/** Starts `app` on a free loopback port and returns the port. */
export async function listenOnLoopback(app: FastifyInstance): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') {
    throw new Error('the test app is not listening on a TCP port');
  }
  return address.port;
}
