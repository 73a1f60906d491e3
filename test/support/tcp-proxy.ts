import { connect, createServer, type Server, type Socket } from 'node:net';

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
  port = 0;

  constructor(targetPort: number) {
    this.#targetPort = targetPort;
  }

  async start(port = this.port): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.#targetPort, '127.0.0.1');
      this.#upstreams.add(upstream);
      upstream.on('close', () => this.#upstreams.delete(upstream));
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('close', () => this.#sockets.delete(socket));
        socket.on('error', () => socket.destroy());
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    const address = server.address();
    this.port = typeof address === 'object' && address !== null ? address.port : port;
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
