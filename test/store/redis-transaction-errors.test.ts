import { createServer, type Server, type Socket } from 'node:net';

import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isBackendOutage } from '../../src/backends/outage.js';
import { createLogger } from '../../src/http/logger.js';
import { RedisOidcAdapter } from '../../src/store/redis-oidc-adapter.js';

/**
 * Starts a Redis that rejects each command inside MULTI as a Redis at its
 * `maxmemory` does, and then aborts the transaction. The error of EXEC that
 * ioredis (5.x) raises carries the rejected commands, with their arguments,
 * in `previousErrors`.
 */
function startRejectingRedis(reply: string): Promise<Server> {
  const server = createServer((socket: Socket) => {
    let buffered = '';
    let inTransaction = false;
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      for (let command = takeCommand(); command !== undefined; command = takeCommand()) {
        const name = (command[0] ?? '').toLowerCase();
        if (name === 'multi') {
          inTransaction = true;
          socket.write('+OK\r\n');
        } else if (name === 'exec') {
          inTransaction = false;
          socket.write('-EXECABORT Transaction discarded because of previous errors.\r\n');
        } else if (inTransaction) {
          socket.write(`-${reply}\r\n`);
        } else if (name === 'info') {
          const info = '# Server\r\nredis_version:7.2.0\r\nloading:0\r\n';
          socket.write(`$${info.length}\r\n${info}\r\n`);
        } else {
          socket.write('+OK\r\n');
        }
      }
    });

    /** Removes one complete RESP array of bulk strings from the buffer and returns its items. */
    function takeCommand(): string[] | undefined {
      const lines = buffered.split('\r\n');
      const count = Number(lines[0]?.slice(1));
      if (!lines[0]?.startsWith('*') || lines.length < 2 * count + 2) {
        return undefined;
      }
      const items = Array.from({ length: count }, (_unused, index) => lines[2 + 2 * index] ?? '');
      buffered = lines.slice(2 * count + 1).join('\r\n');
      return items;
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('Redis transaction aborted by error replies', () => {
  let server: Server;
  let redis: Redis;

  beforeAll(async () => {
    server = await startRejectingRedis("OOM command not allowed when used memory > 'maxmemory'.");
    const address = server.address() as { port: number };
    redis = new Redis({ host: '127.0.0.1', port: address.port, maxRetriesPerRequest: 0, lazyConnect: true });
    await redis.connect();
  });

  afterAll(async () => {
    redis.disconnect();
    await new Promise((resolve) => server.close(resolve));
  });

  async function failedUpsert(): Promise<unknown> {
    const adapter = new RedisOidcAdapter(redis, 'AccessToken', async () => {});
    return adapter.upsert('opaque-token-value', { jti: 'opaque-token-value', accountId: 'account-secret-id' }, 60).then(
      () => expect.unreachable('the upsert succeeded'),
      (error: unknown) => error,
    );
  }

  it('counts as an outage', async () => {
    expect(isBackendOutage(await failedUpsert())).toBe(true);
  });

  it('keeps command arguments out of the log', async () => {
    const error = await failedUpsert();
    const lines: string[] = [];
    const logger = createLogger('info', { write: (line: string) => void lines.push(line) });
    logger.error({ err: error }, 'request failed');

    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('EXECABORT');
    expect(lines[0]).not.toContain('opaque-token-value');
    expect(lines[0]).not.toContain('account-secret-id');
    expect(lines[0]).toContain('"command":{"name":"hset"}');
  });
});
