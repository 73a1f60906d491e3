/**
 * Summaries of the measured rounds and the markdown that goes to the
 * console and into the `## Gateway throughput` section of BENCHMARKS.md.
 */
import { readFile, writeFile } from 'node:fs/promises';

import type { LoadResult } from './load.js';

/** One round of a scenario: the load generator's result and the CPU time of the processes behind it. */
export interface RoundResult extends LoadResult {
  /** CPU time of the gateway or proxy per request, in microseconds. In the direct scenario, the server is the upstream. */
  serverCpuMicroseconds?: number | undefined;
  /** CPU time of the upstream per request, in microseconds, for scenarios that go through a gateway or proxy. */
  upstreamCpuMicroseconds?: number | undefined;
}

export interface ScenarioSummary {
  label: string;
  /** True when the load went to the upstream itself, with no gateway or proxy in front. */
  direct: boolean;
  rounds: RoundResult[];
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** (max − min) / median of requests per second over the rounds, in percent. */
  spreadPercent: number;
  non2xx: number;
  socketErrors: number;
  /** Median of the rounds' server CPU time per request, in microseconds, or undefined when a round has none. */
  serverCpuMicroseconds: number | undefined;
  /** Median of the rounds' upstream CPU time per request, in microseconds, or undefined when a round has none. */
  upstreamCpuMicroseconds: number | undefined;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Returns the median of the values, or undefined when any of them is missing. */
function medianOfAll(values: ReadonlyArray<number | undefined>): number | undefined {
  return values.length === 0 || values.some((value) => value === undefined) ? undefined : median(values as number[]);
}

/** Reduces the rounds of one scenario to the median of each metric and the spread of requests per second. */
export function summarize(label: string, rounds: RoundResult[], direct = false): ScenarioSummary {
  const perSecond = rounds.map((round) => round.requestsPerSecond);
  const requestsPerSecond = median(perSecond);
  return {
    label,
    direct,
    rounds,
    requestsPerSecond,
    p50Ms: median(rounds.map((round) => round.p50Ms)),
    p99Ms: median(rounds.map((round) => round.p99Ms)),
    spreadPercent: requestsPerSecond === 0 ? 0 : ((Math.max(...perSecond) - Math.min(...perSecond)) / requestsPerSecond) * 100,
    non2xx: rounds.reduce((sum, round) => sum + round.non2xx, 0),
    socketErrors: rounds.reduce((sum, round) => sum + round.socketErrors, 0),
    serverCpuMicroseconds: medianOfAll(rounds.map((round) => round.serverCpuMicroseconds)),
    upstreamCpuMicroseconds: medianOfAll(rounds.map((round) => round.upstreamCpuMicroseconds)),
  };
}

const wholeNumber = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

function milliseconds(value: number): string {
  return `${value.toFixed(2)} ms`;
}

function ratio(value: number, reference: number): string {
  return reference === 0 ? 'n/a' : (value / reference).toFixed(2);
}

/** Renders the results as a markdown table. The ratio columns divide by the `direct` and `ceiling` rows. */
export function renderTable(summaries: readonly ScenarioSummary[], direct: ScenarioSummary, ceiling: ScenarioSummary): string {
  const lines = [
    '| scenario | requests/s | p50 | p99 | ÷ direct | ÷ bare proxy | spread of rounds |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const summary of summaries) {
    lines.push(
      `| ${summary.label} | ${wholeNumber.format(summary.requestsPerSecond)} | ${milliseconds(summary.p50Ms)} | ${milliseconds(summary.p99Ms)} | ` +
        `${ratio(summary.requestsPerSecond, direct.requestsPerSecond)} | ${ratio(summary.requestsPerSecond, ceiling.requestsPerSecond)} | ` +
        `${summary.spreadPercent.toFixed(0)} % |`,
    );
  }
  return lines.join('\n');
}

/** A scenario that the ratio table divides by, and its short name in the column headings. */
export interface ReferenceScenario {
  name: string;
  summary: ScenarioSummary;
}

/** Returns the direct and bare proxy scenarios, which every run measures, and the bare verifying proxy when this run measured it. */
export function referenceScenarios(summaries: readonly ScenarioSummary[]): ReferenceScenario[] {
  const names = ['1', '2a', '2b'];
  return names.flatMap((name) => {
    const summary = summaries.find((candidate) => candidate.label.startsWith(`${name}.`));
    return summary === undefined ? [] : [{ name, summary }];
  });
}

/**
 * Renders each scenario's requests/s, p50 and p99 divided by the same
 * figure of every reference scenario, as a markdown table. For latency, a
 * ratio above 1 means slower than the reference.
 */
export function renderRatioTable(summaries: readonly ScenarioSummary[], references: readonly ReferenceScenario[]): string {
  const headings = references.flatMap(({ name }) => [`requests/s ÷ ${name}`, `p50 ÷ ${name}`, `p99 ÷ ${name}`]);
  const lines = [`| scenario | ${headings.join(' | ')} |`, `| --- |${' ---: |'.repeat(headings.length)}`];

  for (const summary of summaries) {
    const cells = references.flatMap(({ summary: reference }) => [
      ratio(summary.requestsPerSecond, reference.requestsPerSecond),
      ratio(summary.p50Ms, reference.p50Ms),
      ratio(summary.p99Ms, reference.p99Ms),
    ]);
    lines.push(`| ${summary.label} | ${cells.join(' | ')} |`);
  }

  return lines.join('\n');
}

function microseconds(value: number | undefined): string {
  return value === undefined ? 'n/a' : `${value.toFixed(0)} µs`;
}

/** CPU time per request of a scenario's processes together: the server's and, behind a gateway or proxy, the upstream's. */
function totalCpu(summary: ScenarioSummary): number | undefined {
  if (summary.direct) {
    return summary.serverCpuMicroseconds;
  }
  if (summary.serverCpuMicroseconds === undefined || summary.upstreamCpuMicroseconds === undefined) {
    return undefined;
  }
  return summary.serverCpuMicroseconds + summary.upstreamCpuMicroseconds;
}

/**
 * Renders the CPU time per request of each scenario's server and upstream
 * as a markdown table. The last column divides the total of `ceiling` by
 * the scenario's total: the requests/s ratio to `ceiling` that the scenario
 * would reach if CPU time on the servers' core were all that limited it.
 */
export function renderCpuTable(summaries: readonly ScenarioSummary[], ceiling: ScenarioSummary): string {
  const lines = [
    '| scenario | gateway or proxy | upstream | both | bare proxy\'s both ÷ this |',
    '| --- | ---: | ---: | ---: | ---: |',
  ];
  const ceilingTotal = totalCpu(ceiling);

  for (const summary of summaries) {
    const total = totalCpu(summary);
    const direct = summary.direct;
    const share = ceilingTotal === undefined || total === undefined || total === 0 ? 'n/a' : (ceilingTotal / total).toFixed(2);
    lines.push(
      `| ${summary.label} | ${direct ? '—' : microseconds(summary.serverCpuMicroseconds)} | ` +
        `${microseconds(direct ? summary.serverCpuMicroseconds : summary.upstreamCpuMicroseconds)} | ${microseconds(total)} | ${share} |`,
    );
  }

  return lines.join('\n');
}

/** Lists the scenarios whose rounds saw error responses or socket errors, or returns an empty string when none did. */
export function renderErrors(summaries: readonly ScenarioSummary[]): string {
  const failing = summaries.filter((summary) => summary.non2xx > 0 || summary.socketErrors > 0);
  return failing
    .map((summary) => `- ${summary.label}: ${summary.non2xx} responses other than 2xx or 3xx, ${summary.socketErrors} socket errors or timeouts`)
    .join('\n');
}

/**
 * Replaces the section under `heading` in the markdown file at `path`, up to
 * the next second-level heading, with `section`. When the file has no such
 * section, appends it. Other sections stay as they are.
 */
export async function replaceSection(path: string, heading: string, section: string): Promise<void> {
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw error;
    }
  }

  const start = text.search(new RegExp(`^${heading}\\s*$`, 'm'));
  const body = `${section.trimEnd()}\n`;
  if (start === -1) {
    await writeFile(path, `${text.trimEnd()}${text === '' ? '' : '\n\n'}${body}`);
    return;
  }

  const afterHeading = start + heading.length;
  const next = text.slice(afterHeading).search(/^## /m);
  const rest = next === -1 ? '' : `\n${text.slice(afterHeading + next)}`;
  await writeFile(path, `${text.slice(0, start)}${body}${rest}`);
}
