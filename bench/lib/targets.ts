/**
 * The reading under the throughput table: each Portcullis target as a
 * ratio of the scenarios it is measured against, met or not.
 */
import type { ScenarioSummary } from './report.js';

/** Idle resident set size that Portcullis must stay under after start, in bytes. */
export const IDLE_RSS_TARGET_BYTES = 100 * 1024 * 1024;

interface Target {
  description: string;
  value: number;
  minimum: number;
}

function byPrefix(summaries: readonly ScenarioSummary[], prefix: string): ScenarioSummary {
  const found = summaries.find((summary) => summary.label.startsWith(prefix));
  if (found === undefined) {
    throw new Error(`no scenario labelled '${prefix}…'`);
  }
  return found;
}

/** Formats a measured ratio with two decimals, or three where two would round it up to a target it misses. */
export function formatRatio(value: number, minimum: number): string {
  const rounded = value.toFixed(2);
  return value < minimum && Number(rounded) >= minimum ? value.toFixed(3) : rounded;
}

function targetLine(target: Target): string {
  const verdict = target.value >= target.minimum ? 'met' : 'not met';
  return `| ${target.description} | ${formatRatio(target.value, target.minimum)} | ≥ ${target.minimum.toFixed(2)} | ${verdict} |`;
}

/** Renders the targets as a markdown table of measured ratio, required ratio and verdict. */
export function readingOf(summaries: readonly ScenarioSummary[]): string {
  const rps = (prefix: string) => byPrefix(summaries, prefix).requestsPerSecond;
  const bareJwt = byPrefix(summaries, '2b.');
  const portcullis = byPrefix(summaries, '5a.');

  const targets: Target[] = [
    { description: '5a ÷ 2a (bare proxy, no checks)', value: rps('5a.') / rps('2a.'), minimum: 0.85 },
    { description: '5g ÷ 2a (5a without the two checks that no comparison stack makes)', value: rps('5g.') / rps('2a.'), minimum: 0.85 },
    { description: '5a ÷ 3 (Express)', value: rps('5a.') / rps('3.'), minimum: 3 },
    { description: '5a ÷ 4 (Fastify)', value: rps('5a.') / rps('4.'), minimum: 2 },
    { description: '2b p99 ÷ 5a p99 (latency no worse than the bare verifying proxy)', value: bareJwt.p99Ms / portcullis.p99Ms, minimum: 1 },
    { description: '5b ÷ 2b (rotating tokens against the bare verifying proxy)', value: rps('5b.') / rps('2b.'), minimum: 1.3 },
    { description: '5c ÷ 2b (token cache off against the bare verifying proxy)', value: rps('5c.') / rps('2b.'), minimum: 0.9 },
    { description: '7 ÷ 5a (Redis limiter against the memory limiter)', value: rps('7.') / rps('5a.'), minimum: 0.8 },
    { description: '5a ÷ 5d (OpenAPI request validation on against off)', value: rps('5a.') / rps('5d.'), minimum: 0.9 },
  ];

  return ['| target | measured | required | verdict |', '| --- | ---: | ---: | --- |', ...targets.map(targetLine)].join('\n');
}

/** A resident set size of the idle Portcullis, read `afterMs` after it started listening. */
export interface IdleReading {
  afterMs: number;
  bytes: number;
}

/** Describes the idle resident set sizes measured after start against their target. */
export function idleMemoryLine(readings: readonly IdleReading[]): string {
  const parts = readings.map(({ afterMs, bytes }) => {
    const verdict = bytes < IDLE_RSS_TARGET_BYTES ? 'under' : 'over';
    return `${(bytes / (1024 * 1024)).toFixed(1)} MiB ${afterMs / 1000} s after start (${verdict} the 100 MiB target)`;
  });
  return `Idle resident set size of Portcullis before any load: ${parts.join(', ')}.`;
}
