import { isIP } from 'node:net';

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
}

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
    connectSocket({ ...connectOptions, hostname: address, ...(servername === undefined ? {} : { servername }) }, callback);
  };

  return new Agent({ connect, connections: 1, pipelining: 1 });
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
