/** Writes command results as text for people or as JSON for scripts. */
export interface Output {
  json: boolean;
  result(value: unknown, text: string): void;
}

export function createOutput(json: boolean): Output {
  return {
    json,
    result(value, text) {
      process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
    },
  };
}

/** An error the CLI reports as a plain message with exit code 1, without a stack trace. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}
