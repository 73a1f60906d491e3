/**
 * Reports a repeated failure at most once per interval, with the number of
 * failures since the last report. An outage under load then writes one log
 * line per interval instead of one per request.
 */
export class RepeatedFailureReports {
  readonly #report: (error: Error, failuresSinceLastReport: number) => void;
  readonly #intervalMs: number;
  readonly #now: () => number;
  #failuresSinceReport = 0;
  #lastReportAt = Number.NEGATIVE_INFINITY;

  constructor(report: (error: Error, failuresSinceLastReport: number) => void, intervalMs: number, now: () => number = Date.now) {
    this.#report = report;
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  /** Counts one failure, and reports it when the last report is at least one interval old. */
  add(error: Error): void {
    this.#failuresSinceReport += 1;

    const now = this.#now();
    if (now - this.#lastReportAt >= this.#intervalMs) {
      this.#report(error, this.#failuresSinceReport);
      this.#failuresSinceReport = 0;
      this.#lastReportAt = now;
    }
  }
}
