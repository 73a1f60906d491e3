import type { Logger } from '../http/logger.js';

interface DeferredClose {
  /** Name of the resource in the log line of a failed close, such as `database`. */
  resource: string;
  close: () => unknown;
}

/**
 * The resources that a start has opened, each with the step that closes
 * it. `closeAll` runs the steps newest first, so that a resource closes
 * before the ones it uses (the HTTP server before the database it
 * queries). The start runs them when one of its later steps fails, and
 * `close` of the running instance runs them to stop it.
 */
export class ResourceStack {
  readonly #logger: Logger;
  readonly #steps: DeferredClose[] = [];
  #closing: Promise<unknown[]> | undefined;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Records how to close `resource`. Call it as soon as the resource exists, before the next step can fail. */
  defer(resource: string, close: () => unknown): void {
    this.#steps.push({ resource, close });
  }

  /**
   * Runs every recorded step once, newest first. A step that throws is
   * logged and the others still run, so one failed close does not keep
   * the other resources open. Returns the errors of the failed steps in
   * the order they ran. A later call returns the result of the first, so
   * two callers cannot close a resource while a newer one is still closing.
   */
  closeAll(): Promise<unknown[]> {
    this.#closing ??= this.#runSteps();
    return this.#closing;
  }

  async #runSteps(): Promise<unknown[]> {
    const failures: unknown[] = [];
    for (let step = this.#steps.pop(); step !== undefined; step = this.#steps.pop()) {
      try {
        await step.close();
      } catch (error) {
        this.#logger.error({ err: error, resource: step.resource }, `closing the ${step.resource} failed`);
        failures.push(error);
      }
    }
    return failures;
  }
}
