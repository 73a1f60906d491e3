import { connect, createServer, type Server, type Socket } from 'node:net';

import { freePort } from './ports.js';

/**
 * A loopback TCP relay to a local service, which a test can stop and start
 * to take the service away from Portcullis without touching the service.
 */
export class TcpProxy {
  readonly #targetPort: number;
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();
  /** Connections to the service, which `hold` corks. */
  readonly #upstreams = new Set<Socket>();
  #silent = false;
  /** What a new connection gets in reply to its first bytes, before it is closed, while set. */
  #refusal: Buffer | undefined;
  /** The error that every command gets while set, in place of the service's reply. */
  #errorReply: string | undefined;
  port = 0;

  constructor(targetPort: number) {
    this.#targetPort = targetPort;
  }

  /**
   * Listens on `port`, by default the port of the previous start, so that a
   * restarted proxy is where Portcullis reconnects. The first start takes a
   * port outside the range the system hands out, which makes it unlikely
   * that another process binds it while the proxy is stopped.
   */
  async start(port = this.port): Promise<void> {
    const listenPort = port === 0 ? await freePort() : port;
    const server = createServer((client) => {
      this.#sockets.add(client);
      client.on('close', () => this.#sockets.delete(client));
      client.on('error', () => client.destroy());
      if (this.#silent) {
        return;
      }
      const refusal = this.#refusal;
      if (refusal !== undefined) {
        client.once('data', () => client.end(refusal));
        return;
      }

      const upstream = connect(this.#targetPort, '127.0.0.1');
      this.#sockets.add(upstream);
      this.#upstreams.add(upstream);
      upstream.on('close', () => {
        this.#sockets.delete(upstream);
        this.#upstreams.delete(upstream);
      });
      upstream.on('error', () => upstream.destroy());
      let pending = Buffer.alloc(0);
      client.on('data', (chunk: Buffer) => {
        if (this.#errorReply === undefined) {
          void (this.#silent || upstream.write(chunk));
          return;
        }
        pending = Buffer.concat([pending, chunk]);
        const { count, consumed } = countRespCommands(pending);
        pending = pending.subarray(consumed);
        client.write(`-${this.#errorReply}\r\n`.repeat(count));
      });
      upstream.on('data', (chunk: Buffer) => void (this.#silent || client.write(chunk)));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listenPort, '127.0.0.1', resolve);
    });
    const address = server.address();
    this.port = typeof address === 'object' && address !== null ? address.port : listenPort;
    this.#server = server;
  }

  /**
   * Holds back what callers send until `release`, so the service looks
   * stalled: commands are delayed, not lost, as with a service that pauses.
   */
  hold(): void {
    for (const upstream of this.#upstreams) {
      upstream.cork();
    }
  }

  release(): void {
    for (const upstream of this.#upstreams) {
      upstream.uncork();
    }
  }

  /**
   * Drops every byte in both directions and leaves connections open, as a
   * network path that loses packets does: nothing fails until a timeout.
   */
  silence(): void {
    this.#silent = true;
  }

  /** Relays bytes again after `silence`; bytes dropped meanwhile stay lost. */
  resume(): void {
    this.#silent = false;
  }

  /**
   * Replies to every Redis command with the error `message` instead of
   * relaying it, as Redis does while it loads its data after a restart
   * (`LOADING …`) or as a replica does after a failover (`READONLY …`).
   */
  replyWithError(message: string): void {
    this.#errorReply = message;
  }

  /**
   * Replies to each new connection's first bytes with `reply` and closes it,
   * as a service that refuses connections does, such as PostgreSQL at
   * `max_connections` (see {@link postgresError}). Open connections are kept.
   */
  refuseConnections(reply: Buffer): void {
    this.#refusal = reply;
  }

  /** Relays new connections to the service again after `refuseConnections`. */
  acceptConnections(): void {
    this.#refusal = undefined;
  }

  /** Relays commands to the service again after `replyWithError`. */
  relay(): void {
    this.#errorReply = undefined;
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets) {
      socket.destroy();
    }
    const server = this.#server;
    this.#server = undefined;
    if (server !== undefined) {
      await new Promise((resolve) => server.close(resolve));
    }
  }
}

/**
 * Counts the complete RESP commands (arrays of bulk strings, as Redis
 * clients send them) at the start of `buffer`, and returns how many bytes
 * they take.
 */
function countRespCommands(buffer: Buffer): { count: number; consumed: number } {
  let count = 0;
  let consumed = 0;
  let offset = 0;
  const readLine = (): string | undefined => {
    const end = buffer.indexOf('\r\n', offset);
    if (end === -1) {
      return undefined;
    }
    const line = buffer.toString('latin1', offset, end);
    offset = end + 2;
    return line;
  };

  for (;;) {
    const header = readLine();
    if (header === undefined || !header.startsWith('*')) {
      return { count, consumed };
    }
    for (let argument = Number(header.slice(1)); argument > 0; argument -= 1) {
      const length = readLine();
      if (length === undefined) {
        return { count, consumed };
      }
      offset += Number(length.slice(1)) + 2;
      if (offset > buffer.length) {
        return { count, consumed };
      }
    }
    count += 1;
    consumed = offset;
  }
}

/**
 * Builds a PostgreSQL ErrorResponse message (protocol 3.0) with severity
 * FATAL, the SQLSTATE `code` and `message`, as the server sends it to a
 * connection that it refuses.
 */
export function postgresError(code: string, message: string): Buffer {
  const fields = Buffer.from(`SFATAL\0VFATAL\0C${code}\0M${message}\0\0`, 'utf8');
  const header = Buffer.alloc(5);
  header.write('E', 0, 'latin1');
  header.writeInt32BE(4 + fields.length, 1);
  return Buffer.concat([header, fields]);
}
