import { Option } from 'commander';

/**
 * Creates a repeatable option whose values collect into a list, empty when
 * the option is not given. Help shows `whenAbsent` as its default, where
 * commander would print the empty list. `split` turns one value into
 * several, such as a comma-separated list.
 */
export function listOption(flags: string, description: string, whenAbsent: string, split: (value: string) => string[] = (value) => [value]): Option {
  return new Option(flags, description).argParser((value: string, previous: string[]) => [...previous, ...split(value)]).default([], whenAbsent);
}
