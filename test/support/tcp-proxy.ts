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

      const upstream = connect(this.#targetPort, '127.0.0.1');
      this.#sockets.add(upstream);
      this.#upstreams.add(upstream);
      upstream.on('close', () => {
        this.#sockets.delete(upstream);
        this.#upstreams.delete(upstream);
      });
      upstream.on('error', () => upstream.destroy());
      client.on('data', (chunk: Buffer) => void (this.#silent || upstream.write(chunk)));
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
