import { createServer } from 'node:net';

import type { PortcullisConfig } from '../config/schema.js';

/** A listener of Portcullis, with the options that choose its address. */
export interface ListenerSettings {
  /** Name of the listener in messages, such as `the server` or `the metrics listener`. */
  name: string;
  host: string;
  port: number;
  /** The flag, environment variable or config key that sets the port. */
  portOptions: string;
  /** The flag, environment variable or config key that sets the host. */
  hostOptions: string;
}

/** A listener that could not bind its address; the message names the address and the options that set it. */
export class ListenError extends Error {
  readonly code: string | undefined;

  constructor(listener: ListenerSettings, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    super(`${listener.name} cannot listen on ${formatAddress(listener.host, listener.port)}: ${explainListenFailure(listener, code, cause)}`, {
      cause,
    });
    this.name = 'ListenError';
    this.code = code;
  }
}

/** Returns the address of the public listener and the options that set it. */
export function mainListener(config: Readonly<PortcullisConfig>): ListenerSettings {
  return {
    name: 'the server',
    host: config.host,
    port: config.port,
    portOptions: '--port, PORTCULLIS_PORT or the port config key',
    hostOptions: '--host, PORTCULLIS_HOST or the host config key',
  };
}

/** Returns the address of the metrics listener and the config keys that set it. */
export function metricsListener(config: Readonly<PortcullisConfig>): ListenerSettings {
  return {
    name: 'the metrics listener',
    host: config.metrics.host,
    port: config.metrics.port,
    portOptions: 'the metrics.port config key',
    hostOptions: 'the metrics.host config key',
  };
}

/** Formats `host:port`, with brackets around an IPv6 address. */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Builds the reason and the fix for a failed listen from its Node.js error code. */
function explainListenFailure(listener: ListenerSettings, code: string | undefined, cause: unknown): string {
  switch (code) {
    case 'EADDRINUSE':
      return `the address is already in use by another process; stop that process or choose another port with ${listener.portOptions}`;
    case 'EACCES':
      return `permission denied, because ports below 1024 need privileges; choose another port with ${listener.portOptions}`;
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return `the host is not an address of this machine; check ${listener.hostOptions}`;
    default:
      return `${cause instanceof Error ? cause.message : String(cause)}; check ${listener.hostOptions} and ${listener.portOptions}`;
  }
}

/**
 * Binds the listener's address and releases it at once, throwing ListenError
 * when the address cannot be bound. Port 0 picks a free port, so it is not
 * checked.
 *
 * NOTE: another process can still take the port between this check and the
 * real listen. That listen then fails with the same ListenError, but after
 * the work done in between.
 */
export async function checkCanListen(listener: ListenerSettings): Promise<void> {
  if (listener.port === 0) {
    return;
  }

  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', (error) => reject(new ListenError(listener, error)));
    probe.listen({ host: listener.host, port: listener.port, exclusive: true }, () => resolve());
  });
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}

/** Runs `listen`, turning its failure into a ListenError for `listener`. */
export async function reportingListenError<T>(listener: ListenerSettings, listen: () => Promise<T>): Promise<T> {
  try {
    return await listen();
  } catch (error) {
    throw new ListenError(listener, error);
  }
}
