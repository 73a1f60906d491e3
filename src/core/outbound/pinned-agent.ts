import { isIP, type Socket } from 'node:net';

import { Agent, buildConnector } from 'undici';

/** Target of a connection about to be opened, as passed to {@link PinnedAgentOptions.beforeConnect}. */
export interface ConnectAttempt {
  /** Host name from the URL, used for the Host header and TLS server name. */
  readonly host: string;
  /** The checked address the socket connects to. */
  readonly address: string;
  readonly port: number;
  readonly protocol: string;
}

export interface PinnedAgentOptions {
  /** Called before every socket is opened. Throwing aborts the connection, so tests can assert that none was attempted. */
  readonly beforeConnect?: (attempt: ConnectAttempt) => void;
  /** Connect timeout in milliseconds; the overall deadline of the request still applies. */
  readonly connectTimeoutMs: number;
  /** Bytes a connection may receive in all, TLS and HTTP framing included, before it is destroyed with {@link RECEIVE_LIMIT_CODE}. */
  readonly maxReceivedBytes: number;
}

/** `code` of the error that destroys a connection which received more than `maxReceivedBytes`. */
export const RECEIVE_LIMIT_CODE = 'OUTBOUND_RECEIVE_LIMIT';

/**
 * Creates an undici Agent whose every connection goes to `address`, the
 * address the guard checked, whatever host the URL names. The socket is
 * opened on the IP address itself, so no second DNS query happens and a
 * rebinding answer cannot change the target. The TLS server name (SNI) and
 * certificate check still use the URL's host name, and undici sends the URL's
 * host in the Host header.
 *
 * NOTE: each hop gets its own agent with one connection, so there is no
 * connection reuse across requests.
 */
export function createPinnedAgent(address: string, options: PinnedAgentOptions): Agent {
  const connectSocket = buildConnector({ timeout: options.connectTimeoutMs, maxCachedSessions: 0 });

  const connect: buildConnector.connector = (connectOptions, callback) => {
    const host = stripBrackets(connectOptions.hostname);
    const port = Number(connectOptions.port || (connectOptions.protocol === 'https:' ? 443 : 80));

    try {
      options.beforeConnect?.({ host, address, port, protocol: connectOptions.protocol });
    } catch (error) {
      callback(error instanceof Error ? error : new Error(String(error)), null);
      return;
    }

    // An IP literal is no valid server name (RFC 6066), so SNI is left out
    // and Node checks the certificate against the address instead.
    const servername = isIP(host) === 0 ? host : undefined;
    const target = { ...connectOptions, hostname: address, ...(servername === undefined ? {} : { servername }) };
    connectSocket(target, (...result) => {
      // undici passes the error alone when connecting fails, so the socket may be undefined too.
      const socket = result[1] as Socket | null | undefined;
      if (socket !== null && socket !== undefined) {
        limitReceivedBytes(socket, options.maxReceivedBytes);
      }
      callback(...result);
    });
  };

  return new Agent({ connect, connections: 1, pipelining: 1 });
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/**
 * Destroys `socket` once it has received more than `maxBytes`. The body cap
 * counts body bytes only, and a server could otherwise keep a request busy
 * until its deadline with bytes that never reach the body: chunk extensions
 * or an endless series of interim (1xx) responses. The check runs on each
 * `readable` event and reads nothing, so undici still consumes the data.
 */
function limitReceivedBytes(socket: Socket, maxBytes: number): void {
  socket.on('readable', () => {
    if (socket.bytesRead > maxBytes && !socket.destroyed) {
      socket.destroy(Object.assign(new Error(`the connection received more than ${maxBytes} bytes`), { code: RECEIVE_LIMIT_CODE }));
    }
  });
}
