import { afterEach, describe, expect, it, vi } from 'vitest';

import { createHttpApp } from '../../src/http/create-app.js';
import { createLogger, type Logger } from '../../src/http/logger.js';
import { requestLogger } from '../../src/http/request-logger.js';

interface LogLine {
  level: number;
  msg: string;
  reqId?: string;
  step?: string;
  req?: { method: string; url: string };
  res?: { statusCode: number };
  responseTime?: number;
}

function capture(level: string): { logger: Logger; lines: () => LogLine[] } {
  const written: string[] = [];
  const logger = createLogger(level, { write: (line: string) => void written.push(line) });
  return { logger, lines: () => written.map((line) => JSON.parse(line) as LogLine) };
}

describe('request logger', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('creates no child for disabled levels', () => {
    const { logger, lines } = capture('warn');
    const child = vi.spyOn(logger, 'child');

    const log = requestLogger(logger, { reqId: 'r1' }, {});
    log.info('not written');
    log.debug('not written either');

    expect(child).not.toHaveBeenCalled();
    expect(lines()).toEqual([]);
  });

  it('writes enabled lines with the bindings', () => {
    const { logger, lines } = capture('warn');
    const child = vi.spyOn(logger, 'child');

    const log = requestLogger(logger, { reqId: 'r2' }, {});
    log.warn({ step: 'first' }, 'one');
    log.error('two');

    expect(child).toHaveBeenCalledTimes(1);
    expect(lines().map((line) => [line.level, line.msg, line.reqId])).toEqual([
      [40, 'one', 'r2'],
      [50, 'two', 'r2'],
    ]);
    expect(lines()[0]?.step).toBe('first');
  });

  it('reports and changes the level', () => {
    const { logger, lines } = capture('warn');

    const log = requestLogger(logger, { reqId: 'r3' }, {});
    expect(log.level).toBe('warn');
    log.level = 'debug';
    log.debug('now written');

    expect(logger.level).toBe('warn');
    expect(lines().map((line) => [line.msg, line.reqId])).toEqual([['now written', 'r3']]);
  });

  it('keeps the bindings in grandchildren', () => {
    const { logger, lines } = capture('info');

    requestLogger(logger, { reqId: 'r4' }, {}).child({ step: 'nested' }).info('deeper');

    expect(lines().map((line) => [line.msg, line.reqId, line.step])).toEqual([['deeper', 'r4', 'nested']]);
  });

  it('creates the child at once for a level of its own', () => {
    const { logger } = capture('warn');
    const child = vi.spyOn(logger, 'child');

    const log = requestLogger(logger, { reqId: 'r5' }, { level: 'debug' });

    expect(child).toHaveBeenCalledTimes(1);
    expect(log.level).toBe('debug');
  });

  it('tags Fastify request lines with the request id', async () => {
    const { logger, lines } = capture('info');
    const app = createHttpApp({ logger, bodyLimit: 1024, maxHeaderSize: 8192, https: false });
    app.get('/hello', async (request) => {
      request.log.info('handled');
      return { ok: true };
    });

    try {
      const response = await app.inject({ method: 'GET', url: '/hello' });
      const requestId = response.headers['x-request-id'];

      const written = lines().filter((line) => line.reqId === requestId).map((line) => line.msg);
      expect(written).toEqual(['handled', 'request completed']);
    } finally {
      await app.close();
    }
  });

  it('writes one line per request at info', async () => {
    const { logger, lines } = capture('info');
    const app = createHttpApp({ logger, bodyLimit: 1024, maxHeaderSize: 8192, https: false });
    app.get('/hello', async () => ({ ok: true }));

    try {
      const found = await app.inject({ method: 'GET', url: '/hello?name=secret-value' });
      const missing = await app.inject({ method: 'GET', url: '/missing' });

      for (const response of [found, missing]) {
        const written = lines().filter((line) => line.reqId === response.headers['x-request-id']);
        expect(written).toHaveLength(1);
        expect(written[0]?.msg).toBe('request completed');
        expect(written[0]?.req?.method).toBe('GET');
        expect(written[0]?.res?.statusCode).toBe(response.statusCode);
        expect(written[0]?.responseTime).toBeTypeOf('number');
      }
      const [line] = lines().filter((candidate) => candidate.reqId === found.headers['x-request-id']);
      expect(line?.req?.url).toBe('/hello?name=[redacted]');
    } finally {
      await app.close();
    }
  });
});
