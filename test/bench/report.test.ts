import { describe, expect, it } from 'vitest';

import { referenceScenarios, renderCpuTable, renderRatioTable, summarize } from '../../bench/lib/report.js';

function scenario(label: string, requestsPerSecond: number, p50Ms: number, p99Ms: number) {
  return summarize(label, [{ requests: requestsPerSecond * 10, requestsPerSecond, p50Ms, p99Ms, non2xx: 0, socketErrors: 0 }]);
}

describe('benchmark ratio table', () => {
  it('divides each figure by each reference', () => {
    const direct = scenario('1. direct', 1000, 1, 2);
    const bare = scenario('2a. bare', 500, 4, 10);
    const gateway = scenario('5a. gateway', 250, 8, 5);

    const table = renderRatioTable([direct, bare, gateway], [
      { name: '1', summary: direct },
      { name: '2a', summary: bare },
    ]);

    const lines = table.split('\n');
    expect(lines[0]).toBe('| scenario | requests/s ÷ 1 | p50 ÷ 1 | p99 ÷ 1 | requests/s ÷ 2a | p50 ÷ 2a | p99 ÷ 2a |');
    expect(lines[1]).toBe('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    expect(lines[2]).toBe('| 1. direct | 1.00 | 1.00 | 1.00 | 2.00 | 0.25 | 0.20 |');
    expect(lines[3]).toBe('| 2a. bare | 0.50 | 4.00 | 5.00 | 1.00 | 1.00 | 1.00 |');
    expect(lines[4]).toBe('| 5a. gateway | 0.25 | 8.00 | 2.50 | 0.50 | 2.00 | 0.50 |');
  });

  it('marks a ratio to a zero figure', () => {
    const empty = scenario('2b. verifying', 0, 0, 0);

    const table = renderRatioTable([scenario('5a. gateway', 250, 8, 5)], [{ name: '2b', summary: empty }]);

    expect(table.split('\n')[2]).toBe('| 5a. gateway | n/a | n/a | n/a |');
  });

  it('takes the references that the run measured', () => {
    const direct = scenario('1. direct', 1000, 1, 2);
    const bare = scenario('2a. bare', 500, 4, 10);
    const verifying = scenario('2b. bare verifying', 200, 9, 20);
    const gateway = scenario('5a. gateway', 250, 8, 5);

    expect(referenceScenarios([direct, bare, verifying, gateway])).toEqual([
      { name: '1', summary: direct },
      { name: '2a', summary: bare },
      { name: '2b', summary: verifying },
    ]);
    expect(referenceScenarios([direct, bare, gateway]).map((reference) => reference.name)).toEqual(['1', '2a']);
  });
});

describe('benchmark CPU table', () => {
  function measured(label: string, serverCpuMicroseconds: number | undefined, upstreamCpuMicroseconds: number | undefined, direct = false) {
    return summarize(label, [
      { requests: 1000, requestsPerSecond: 100, p50Ms: 1, p99Ms: 2, non2xx: 0, socketErrors: 0, serverCpuMicroseconds, upstreamCpuMicroseconds },
      { requests: 1000, requestsPerSecond: 100, p50Ms: 1, p99Ms: 2, non2xx: 0, socketErrors: 0, serverCpuMicroseconds: (serverCpuMicroseconds ?? 0) * 3, upstreamCpuMicroseconds },
      { requests: 1000, requestsPerSecond: 100, p50Ms: 1, p99Ms: 2, non2xx: 0, socketErrors: 0, serverCpuMicroseconds, upstreamCpuMicroseconds },
    ], direct);
  }

  it('sums the processes and divides the bare proxy by each', () => {
    const direct = measured('1. direct', 30, undefined, true);
    const bare = measured('2a. bare', 120, 30);
    const gateway = measured('5a. gateway', 270, 30);

    const lines = renderCpuTable([direct, bare, gateway], bare).split('\n');

    expect(lines[0]).toBe("| scenario | gateway or proxy | upstream | both | bare proxy's both ÷ this |");
    expect(lines[2]).toBe('| 1. direct | — | 30 µs | 30 µs | 5.00 |');
    expect(lines[3]).toBe('| 2a. bare | 120 µs | 30 µs | 150 µs | 1.00 |');
    expect(lines[4]).toBe('| 5a. gateway | 270 µs | 30 µs | 300 µs | 0.50 |');
  });

  it('marks a scenario without readings', () => {
    const bare = measured('2a. bare', 120, 30);
    const unread = measured('5a. gateway', undefined, undefined);

    expect(renderCpuTable([unread], bare).split('\n')[2]).toBe('| 5a. gateway | n/a | n/a | n/a | n/a |');
  });

  it('gives no total without the upstream reading', () => {
    const bare = measured('2a. bare', 120, 30);
    const halfRead = measured('5a. gateway', 270, undefined);

    expect(renderCpuTable([halfRead], bare).split('\n')[2]).toBe('| 5a. gateway | 270 µs | n/a | n/a | n/a |');
  });
});
