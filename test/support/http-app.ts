import type { FastifyInstance } from 'fastify';

import { createHttpApp } from '../../src/http/create-app.js';
import { createLogger } from '../../src/http/logger.js';

/** Creates the shared Fastify app with small limits and returns it with the log lines it writes. */
export function loggedHttpApp(options: { https: boolean }): { app: FastifyInstance; logs: string[] } {
  const logs: string[] = [];
  const app = createHttpApp({
    logger: createLogger('info', { write: (line: string) => void logs.push(line) }),
    bodyLimit: 1024,
    maxHeaderSize: 8192,
    https: options.https,
  });
  return { app, logs };
}
