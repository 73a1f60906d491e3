import { randomInt } from 'node:crypto';
import { createServer } from 'node:net';

/**
 * Ports that freePort tries first. They lie below the ranges from which
 * Linux (32768-60999 by default) and macOS (49152-65535) pick ports for
 * `listen(0)` and outgoing connections, so only another process that names
 * the same port can take one before the server binds it.
 * NOTE: a machine with a wider ip_local_port_range loses that protection.
 */
const QUIET_PORTS = { min: 20_000, max: 32_767 };

/** Returns `port` when a loopback listener can bind it now, and undefined otherwise. Port 0 lets the system choose. */
async function probePort(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(undefined));
    probe.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      const address = probe.address();
      const bound = typeof address === 'object' && address !== null ? address.port : undefined;
      probe.close(() => resolve(bound));
    });
  });
}

/** Finds a free loopback port, so the issuer URL can name it before the server starts. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const port = await probePort(randomInt(QUIET_PORTS.min, QUIET_PORTS.max + 1));
    if (port !== undefined) {
      return port;
    }
  }

  const port = await probePort(0);
  if (port === undefined) {
    throw new Error('no free loopback port found');
  }
  return port;
}
