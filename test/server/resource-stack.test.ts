import { describe, expect, it } from 'vitest';

import { createLogger } from '../../src/http/logger.js';
import { ResourceStack } from '../../src/server/resource-stack.js';

function capturingStack(): { resources: ResourceStack; logs: string[] } {
  const logs: string[] = [];
  const logger = createLogger('info', { write: (line: string) => void logs.push(line) });
  return { resources: new ResourceStack(logger), logs };
}

describe('ResourceStack', () => {
  it('closes the newest resource first', async () => {
    const { resources } = capturingStack();
    const closed: string[] = [];
    resources.defer('database', () => closed.push('database'));
    resources.defer('Redis connection', async () => {
      await Promise.resolve();
      closed.push('Redis connection');
    });
    resources.defer('HTTP server', () => closed.push('HTTP server'));

    expect(await resources.closeAll()).toEqual([]);
    expect(closed).toEqual(['HTTP server', 'Redis connection', 'database']);
  });

  it('logs a failed close and runs the others', async () => {
    const { resources, logs } = capturingStack();
    const closed: string[] = [];
    const failure = new Error('connection reset');
    resources.defer('database', () => closed.push('database'));
    resources.defer('metrics listener', () => {
      throw failure;
    });
    resources.defer('audit trail', () => Promise.reject(new Error('write failed')));
    resources.defer('HTTP server', () => closed.push('HTTP server'));

    const failures = await resources.closeAll();

    expect(closed).toEqual(['HTTP server', 'database']);
    expect(failures).toHaveLength(2);
    expect((failures[0] as Error).message).toBe('write failed');
    expect(failures[1]).toBe(failure);
    const lines = logs.map((line) => JSON.parse(line) as { level: number; msg: string; resource: string; err: { message: string } });
    expect(lines.map((line) => line.msg)).toEqual(['closing the audit trail failed', 'closing the metrics listener failed']);
    expect(lines.map((line) => line.resource)).toEqual(['audit trail', 'metrics listener']);
    expect(lines.map((line) => line.err.message)).toEqual(['write failed', 'connection reset']);
    expect(lines.every((line) => line.level === 50)).toBe(true);
  });

  it('runs each close once', async () => {
    const { resources } = capturingStack();
    let closes = 0;
    const failure = new Error('connection reset');
    resources.defer('database', () => {
      closes += 1;
      throw failure;
    });

    const [first, second] = await Promise.all([resources.closeAll(), resources.closeAll()]);
    const third = await resources.closeAll();

    expect(closes).toBe(1);
    expect(first).toEqual([failure]);
    expect(second).toBe(first);
    expect(third).toBe(first);
  });

  it('keeps the order under concurrent calls', async () => {
    const { resources } = capturingStack();
    const closed: string[] = [];
    let finishRequests = () => {};
    resources.defer('database', () => closed.push('database'));
    resources.defer('HTTP server', () => new Promise<void>((resolve) => (finishRequests = resolve)));

    const first = resources.closeAll();
    const second = resources.closeAll();
    await Promise.resolve();
    expect(closed).toEqual([]);

    finishRequests();
    await Promise.all([first, second]);
    expect(closed).toEqual(['database']);
  });
});
