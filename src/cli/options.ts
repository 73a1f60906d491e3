import { Option } from 'commander';

/**
 * Creates a repeatable option whose values collect into a list. Help shows
 * `whenAbsent` as its default, where commander would print the empty list,
 * and the list is empty when the option is not given. Without `whenAbsent`
 * the option has no default, for options that must be given. `split` turns
 * one value into several, such as a comma-separated list.
 */
export function listOption(flags: string, description: string, whenAbsent?: string, split: (value: string) => string[] = (value) => [value]): Option {
  const option = new Option(flags, description).argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), ...split(value)]);
  return whenAbsent === undefined ? option : option.default([], whenAbsent);
}
