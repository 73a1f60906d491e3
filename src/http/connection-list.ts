import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Description of the internal symbol under which a Node.js 20 HTTP server
 * keeps the list of its connections, which its request timeout and
 * `closeIdleConnections` use.
 */
const CONNECTIONS_SYMBOL = 'http.server.connections';

/** A connection in the list, as its HTTP parser. */
export interface ConnectionParser {
  socket: Socket;
}

/** The internal connection list of a Node.js 20 HTTP server. */
export interface ConnectionList {
  /** Returns the parsers of the connections that are between requests. */
  idle(): ConnectionParser[];
  /**
   * Returns the parsers of the connections that are receiving a request,
   * head or body, and of new connections that have not sent a whole
   * request yet.
   */
  active(): ConnectionParser[];
}

/** Returns the connection list of `server`, or undefined before it listens or on a Node.js version without the list. */
export function connectionList(server: Server): ConnectionList | undefined {
  const key = Object.getOwnPropertySymbols(server).find((symbol) => symbol.description === CONNECTIONS_SYMBOL);
  if (key === undefined) {
    return undefined;
  }
  return (server as unknown as Record<symbol, ConnectionList | undefined>)[key];
}
