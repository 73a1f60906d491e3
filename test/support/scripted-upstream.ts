import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type UpstreamHandler = (request: IncomingMessage, response: ServerResponse) => void;

/** An HTTP server on a loopback port whose next responses a test sets with `respond`. */
export interface ScriptedUpstream {
  url: string;
  /** Headers of the last request received. */
  lastRequestHeaders: IncomingMessage['headers'] | undefined;
  respond(handler: UpstreamHandler): void;
  close(): Promise<void>;
}

/** Starts a scripted upstream, which responds with 500 until a test calls `respond`. */
export async function startScriptedUpstream(): Promise<ScriptedUpstream> {
  let handler: UpstreamHandler = (_request, response) => {
    response.writeHead(500).end();
  };

  const upstream: ScriptedUpstream = {
    url: '',
    lastRequestHeaders: undefined,
    respond(next) {
      handler = next;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const server = createServer((request, response) => {
    upstream.lastRequestHeaders = request.headers;
    handler(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  upstream.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return upstream;
}

/**
 * Returns a handler that sends `body`, serialized as JSON unless it is a
 * string, with `status`, `contentType` and an ETag, a header that a
 * replacement body must not keep.
 */
export function json(body: unknown, status = 200, contentType = 'application/json'): UpstreamHandler {
  return (_request, response) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    response.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text), etag: '"v1"' }).end(text);
  };
}
