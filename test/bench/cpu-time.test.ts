import { describe, expect, it } from 'vitest';

import { cpuPerRequest, cpuReading, parseProcStat, processCpuMicroseconds } from '../../bench/lib/cpu-time.js';

describe('benchmark CPU time', () => {
  it('adds user and system ticks of a stat line', () => {
    const line = '4242 (node) S 1 4242 4242 0 -1 4194560 9000 0 12 0 1500 250 0 0 20 0 11 0 1234 1000000 5000';

    expect(parseProcStat(line)).toBe(1750);
  });

  it('counts fields after a command name with spaces and parentheses', () => {
    const line = '77 (a (b) c) R 1 77 77 0 -1 0 0 0 0 0 30 12 0 0 20 0 1 0 99 0 0';

    expect(parseProcStat(line)).toBe(42);
  });

  it('rejects a line without the time fields', () => {
    expect(() => parseProcStat('12 (short) S 1 2')).toThrow('unexpected /proc/<pid>/stat line');
  });

  it('rejects a line without a command name', () => {
    expect(() => parseProcStat('12 short S 1 12 12 0 -1 0 0 0 0 0 30 12 0 0')).toThrow('unexpected /proc/<pid>/stat line');
  });

  it.runIf(process.platform === 'linux')('reads the CPU time of this process', () => {
    const before = processCpuMicroseconds(process.pid);
    expect(before).toBeTypeOf('number');

    // The reading moves in clock ticks, so the loop runs until it moves or 5 s have passed.
    const deadline = Date.now() + 5000;
    let after = processCpuMicroseconds(process.pid);
    while (after === before && Date.now() < deadline) {
      after = processCpuMicroseconds(process.pid);
    }

    expect(after).toBeGreaterThan(before as number);
  });

  it('divides each difference by the requests', () => {
    expect(cpuPerRequest([1_000, 500, undefined], [41_000, 2_500, 9_000], 100)).toEqual([400, 20, undefined]);
  });

  it('gives no time per request without requests', () => {
    expect(cpuPerRequest([1_000], [2_000], 0)).toEqual([undefined]);
  });

  it('reads nothing for an unknown process id', () => {
    expect(cpuReading([undefined])).toEqual([undefined]);
  });
});
