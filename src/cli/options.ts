import { resolve } from 'node:path';

import { Option } from 'commander';

/** Help text of every command's `--data-dir` option. */
export const DATA_DIR_HELP = 'data directory (default: $PORTCULLIS_DATA_DIR or ./data)';

/**
 * Creates a repeatable option whose values collect into a list. With
 * `whenAbsent`, an absent option gives an empty list, and help shows
 * `whenAbsent` as the default instead of `[]`. `split` turns one value into
 * several, such as a comma-separated list.
 */
export function listOption(flags: string, description: string, whenAbsent?: string, split: (value: string) => string[] = (value) => [value]): Option {
  const option = new Option(flags, description).argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), ...split(value)]);
  return whenAbsent === undefined ? option : option.default([], whenAbsent);
}

/**
 * Returns the flag, variable or config key that chose the data directory
 * `dataDir`, given the value of `--data-dir`, for messages about it.
 */
export function dataDirSource(dataDir: string, flag: string | undefined): string {
  if (flag !== undefined) {
    return '--data-dir';
  }
  if (process.env['PORTCULLIS_DATA_DIR'] !== undefined) {
    return 'PORTCULLIS_DATA_DIR';
  }
  return dataDir === resolve('data') ? 'the default ./data' : 'the dataDir config key';
}
