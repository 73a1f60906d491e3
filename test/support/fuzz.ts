/**
 * Number of fast-check runs per property: `FUZZ_RUNS` when it is set (as
 * `npm run fuzz` does), otherwise `fallback`, which keeps `npm test` quick.
 */
export function fuzzRuns(fallback: number): number {
  const configured = process.env['FUZZ_RUNS'];
  if (configured === undefined || configured === '') {
    return fallback;
  }

  const runs = Number(configured);
  if (!Number.isInteger(runs) || runs < 1) {
    throw new Error(`FUZZ_RUNS must be a positive integer, got '${configured}'.`);
  }
  return runs;
}

/**
 * Returns a test timeout for `requests` HTTP requests through a test server,
 * at 20 ms each (about four times the time one takes on a loaded 2-core
 * machine), and never below the usual 30 s.
 */
export function timeoutForRequests(requests: number): number {
  return Math.max(30_000, requests * 20);
}
