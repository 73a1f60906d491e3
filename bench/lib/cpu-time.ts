/**
 * CPU time of the benchmark's server processes, read from /proc on Linux,
 * so that the report can split the time of a request between the gateway
 * or proxy and the upstream that share one core.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Returns the clock ticks per second of the times in /proc/<pid>/stat. Linux kernels use 100 unless built otherwise. */
function clockTicksPerSecond(): number {
  const result = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const ticks = Number(result.stdout?.trim());
  return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
}

let ticksPerSecond: number | undefined;

/**
 * Returns the user and system time in clock ticks from the text of
 * /proc/<pid>/stat (proc(5): fields 14 and 15). The command name in
 * field 2 is in parentheses and may contain spaces, so the fields are
 * counted from the last closing parenthesis.
 */
export function parseProcStat(text: string): number {
  const nameEnd = text.lastIndexOf(')');
  if (nameEnd === -1) {
    throw new Error(`unexpected /proc/<pid>/stat line: ${text.slice(0, 200)}`);
  }

  const afterName = text.slice(nameEnd + 2).split(' ');
  // afterName[0] is field 3 (the state), so field n is afterName[n - 3].
  const userTicks = Number(afterName[11]);
  const systemTicks = Number(afterName[12]);
  if (!Number.isFinite(userTicks) || !Number.isFinite(systemTicks)) {
    throw new Error(`unexpected /proc/<pid>/stat line: ${text.slice(0, 200)}`);
  }
  return userTicks + systemTicks;
}

/**
 * Returns the CPU time that the process `pid` and all its threads have used
 * so far, user and system, in microseconds, or undefined where /proc is
 * missing (on macOS, for example).
 */
export function processCpuMicroseconds(pid: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }

  ticksPerSecond ??= clockTicksPerSecond();
  return (parseProcStat(text) / ticksPerSecond) * 1_000_000;
}

/** Reads the CPU time of several processes, in microseconds, with undefined for an unknown process id. */
export function cpuReading(pids: ReadonlyArray<number | undefined>): Array<number | undefined> {
  return pids.map((pid) => (pid === undefined ? undefined : processCpuMicroseconds(pid)));
}

/**
 * Returns the CPU time each process used per request between two readings,
 * in microseconds, or undefined for a process whose reading is missing.
 */
export function cpuPerRequest(before: ReadonlyArray<number | undefined>, after: ReadonlyArray<number | undefined>, requests: number): Array<number | undefined> {
  return before.map((start, index) => {
    const end = after[index];
    return start === undefined || end === undefined || requests <= 0 ? undefined : (end - start) / requests;
  });
}
