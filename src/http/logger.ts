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

type SerializedError = ReturnType<typeof pino.stdSerializers.err>;

/**
 * Serializes an error as pino's standard serializer does, but keeps only
 * the name of a failed Redis command. ioredis (5.x) attaches the command
 * with its arguments (`command.args`) to an error reply and to an aborted
 * pipeline, and the keys of stored OAuth payloads contain opaque access
 * tokens, authorization codes and session ids.
 */
function serializeError(error: unknown): unknown {
  // The standard serializer returns a value that is not error-like, such as a thrown string, as it is.
  return isErrorLike(error) ? withoutCommandArguments(pino.stdSerializers.err(error), new Set([error])) : error;
}

/** Tells whether pino's standard serializer (pino-std-serializers 7) serializes `value` as an error: it has a string `message`. */
function isErrorLike(value: unknown): value is Error {
  return typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string';
}

/**
 * Replaces `command` on a serialized error and on the errors within it,
 * those in a list property included. `enclosing` contains the errors being
 * serialized around it, which stop a cycle through a list.
 */
function withoutCommandArguments(serialized: SerializedError, enclosing: ReadonlySet<unknown>): SerializedError {
  const command: unknown = serialized['command'];
  if (typeof command === 'object' && command !== null && 'args' in command) {
    // A new object, because the serialized error shares `command` with the error itself.
    serialized['command'] = { name: (command as { name?: unknown }).name };
  }

  for (const nested of serialized.aggregateErrors ?? []) {
    withoutCommandArguments(nested, enclosing);
  }
  // The standard serializer also serializes each other property that contains an error, such as ioredis's `lastNodeError`.
  const raw = serialized.raw as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(serialized)) {
    if (key === 'aggregateErrors' || key === 'raw') {
      continue;
    }
    const rawValue = raw[key];
    if (isErrorLike(rawValue)) {
      withoutCommandArguments(value as SerializedError, enclosing);
    } else if (Array.isArray(rawValue) && rawValue.some(isErrorLike)) {
      // The standard serializer copies a list as it is, and JSON.stringify
      // writes each error's own properties, `command` included. ioredis lists
      // the replies to the commands of an aborted MULTI in `previousErrors`.
      // An error that lists itself or an enclosing error becomes a mark.
      serialized[key] = rawValue.map((item) => {
        if (!isErrorLike(item)) {
          return item;
        }
        return enclosing.has(item) ? '[Circular]' : withoutCommandArguments(pino.stdSerializers.err(item), new Set([...enclosing, item]));
      });
    }
  }
  return serialized;
}

/**
 * Creates the process logger.
 *
 * Requests are logged without headers and with query values redacted,
 * errors without the arguments of Redis commands, and the `redact` paths
 * catch credentials that a caller places in a log object by mistake.
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
      err: serializeError,
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
