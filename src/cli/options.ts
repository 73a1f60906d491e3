import { Option } from 'commander';

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
