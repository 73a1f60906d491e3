import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

import { redactUrl } from '../core/log-redaction.js';

export type { Logger } from 'pino';

interface SerializableRequest {
  id: string;
  method: string;
  url: string;
  ip?: string;
}

interface SerializableReply {
  statusCode: number;
}

/**
 * Creates the process logger.
 *
 * Requests are logged without headers and with query values redacted, and
 * the `redact` paths catch credentials that a caller places in a log object
 * by mistake.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level,
    base: { service: 'portcullis' },
    redact: {
      paths: [
        'password',
        '*.password',
        'token',
        '*.token',
        'authorization',
        '*.authorization',
        'cookie',
        '*.cookie',
        'client_secret',
        '*.client_secret',
        'headers',
        '*.headers',
      ],
      censor: '[redacted]',
    },
    serializers: {
      req: (request: SerializableRequest) => ({
        id: request.id,
        method: request.method,
        url: redactUrl(request.url),
        remoteAddress: request.ip,
      }),
      res: (reply: SerializableReply) => ({ statusCode: reply.statusCode }),
    },
  };

  return destination === undefined ? pino(options) : pino(options, destination);
}
