import type { ConfigError } from '../config/load.js';
import { escapeControlCharacters } from '../core/control-characters.js';

/**
 * Escapes every control and format character of `text` except the line
 * feeds and tabs that lay out lines and columns. Command results and the
 * first-start notice pass through it, so a value from an argument, a file,
 * an environment variable or the store cannot send an escape sequence to
 * the terminal. Values that must not start a line or a column of their own are
 * escaped completely where the text is built, with escapeControlCharacters
 * or textRow. Escaped text contains no control character, so escaping it
 * again changes nothing.
 */
export function escapeOutputText(text: string): string {
  return text
    .split('\n')
    .map((line) => line.split('\t').map(escapeControlCharacters).join('\t'))
    .join('\n');
}

/** Writes command results as text for people or as JSON for scripts. */
export interface Output {
  json: boolean;
  result(value: unknown, text: string): void;
}

export function createOutput(json: boolean): Output {
  return {
    json,
    result(value, text) {
      // Of the control characters, JSON.stringify (ECMAScript 2019 and later)
      // escapes only U+0000 to U+001F, so DEL, C1 controls such as U+009B
      // (CSI) and format characters are escaped here. The escapes are JSON's own, so values parse unchanged.
      process.stdout.write(`${escapeOutputText(json ? JSON.stringify(value, null, 2) : text)}\n`);
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

/**
 * An error the CLI reports as a plain message with exit code 1, without a
 * stack trace. Each of `lines` is escaped completely, including line feeds,
 * so a value quoted in the message stays on its line.
 */
export class CliError extends Error {
  constructor(lines: string | readonly string[]) {
    super((typeof lines === 'string' ? [lines] : lines).map(escapeControlCharacters).join('\n'));
    this.name = 'CliError';
  }
}

/** Converts a configuration error to a CliError with one line per invalid option. */
export function configFailure(error: ConfigError): CliError {
  return new CliError(['Invalid configuration:', ...error.problems.map((problem) => `  ${problem}`)]);
}
