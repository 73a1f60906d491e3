import { connect, type Socket } from 'node:net';

export interface SocketExchange {
  /** Every byte the server sent, as text. */
  received: string;
  /** True when the server closed the connection before `timeoutMs` passed. */
  closed: boolean;
  /** Milliseconds from connecting to the close, or to the timeout. */
  elapsedMs: number;
}

/**
 * Opens a connection to 127.0.0.1:`port`, hands it to `drive`, and collects
 * what the server sends until it closes the connection or `timeoutMs`
 * passes. Either way, the connection is destroyed at the end. With
 * `allowHalfOpen`, the client keeps its side open after the server's FIN,
 * as a client that ignores it would.
 */
export async function exchange(
  port: number,
  drive: (socket: Socket) => void,
  timeoutMs: number,
  options: { allowHalfOpen?: boolean } = {},
): Promise<SocketExchange> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: options.allowHalfOpen ?? false });
    let received = '';
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ received, closed, elapsedMs: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => finish(true));
    socket.on('connect', () => drive(socket));
  });
}

/** Sends `data` at once and collects the responses, as {@link exchange} does. */
export async function sendRaw(port: number, data: string, timeoutMs = 5000): Promise<SocketExchange> {
  return exchange(port, (socket) => socket.write(data), timeoutMs);
}

/** Returns the status codes of the responses in `received`, in order. */
export function statusCodes(received: string): number[] {
  return [...received.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((match) => Number(match[1]));
}

/** Returns the body of the last response in `received`, parsed as JSON. */
export function lastJsonBody(received: string): Record<string, unknown> {
  const start = received.lastIndexOf('\r\n\r\n');
  return JSON.parse(received.slice(start + 4)) as Record<string, unknown>;
}
