import type { Logger } from 'pino';

/** How often a failure that keeps repeating is logged again, in milliseconds. */
const REPEAT_INTERVAL_MS = 30_000;

/**
 * Logs the failures of a task that repeats on a timer, such as a poll of
 * the database, without a line per attempt during an outage. The first
 * failure is logged at once, then at most one line per interval with the
 * number of failures since the last line, and one info line when the task
 * succeeds again.
 */
export class FailureReporter {
  readonly #logger: Logger;
  readonly #message: string;
  readonly #intervalMs: number;
  #failures = 0;
  #unreported = 0;
  #lastReportedAt = Number.NEGATIVE_INFINITY;

  constructor(logger: Logger, message: string, intervalMs = REPEAT_INTERVAL_MS) {
    this.#logger = logger;
    this.#message = message;
    this.#intervalMs = intervalMs;
  }

  failed(error: unknown): void {
    this.#failures += 1;
    this.#unreported += 1;
    const now = Date.now();
    if (now - this.#lastReportedAt < this.#intervalMs) {
      return;
    }

    this.#logger.error({ err: error, failures: this.#unreported }, this.#message);
    this.#lastReportedAt = now;
    this.#unreported = 0;
  }

  succeeded(): void {
    if (this.#failures === 0) {
      return;
    }

    this.#logger.info({ failures: this.#failures }, `${this.#message}; succeeded again`);
    this.#failures = 0;
    this.#unreported = 0;
    this.#lastReportedAt = Number.NEGATIVE_INFINITY;
  }
}
