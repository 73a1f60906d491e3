import { escapeControlCharacters } from '../core/control-characters.js';

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

/**
 * Joins the fields of one line of text output with tabs. Fields may contain
 * text that users stored, possibly through an earlier version without input
 * checks, so control and format characters are escaped. A field therefore
 * cannot start a line or a column of its own or restyle the terminal.
 */
export function textRow(fields: readonly string[]): string {
  return fields.map(escapeControlCharacters).join('\t');
}

/** An error the CLI reports as a plain message with exit code 1, without a stack trace. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}
