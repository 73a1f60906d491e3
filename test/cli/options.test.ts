import { Command } from 'commander';
import { describe, expect, it } from 'vitest';

import { listOption } from '../../src/cli/options.js';

/** Parses `args` as a user would type them, for a command with one list option. */
function parse(option: ReturnType<typeof listOption>, args: string[]): Record<string, unknown> {
  const command = new Command('test').exitOverride().configureOutput({ writeErr: () => {} }).addOption(option).action(() => {});
  command.parse(args, { from: 'user' });
  return command.opts();
}

describe('list option', () => {
  it('collects repeated values', () => {
    expect(parse(listOption('--tag <tag>', 'a tag', 'none'), ['--tag', 'a', '--tag', 'b']).tag).toEqual(['a', 'b']);
  });

  it('is empty when absent', () => {
    const option = listOption('--tag <tag>', 'a tag', 'none');

    expect(parse(option, []).tag).toEqual([]);
    expect(parse(option, ['--tag', 'a']).tag).toEqual(['a']);
    expect(parse(option, []).tag).toEqual([]);
  });

  it('splits each value', () => {
    const split = (value: string) => value.split(',');

    expect(parse(listOption('--type <type>', 'a type', 'all', split), ['--type', 'a,b', '--type', 'c']).type).toEqual(['a', 'b', 'c']);
  });

  it('can be required', () => {
    const option = () => listOption('--scope <scope>', 'a scope').makeOptionMandatory();

    expect(() => parse(option(), [])).toThrow("required option '--scope <scope>' not specified");
    expect(parse(option(), ['--scope', 'orders:read']).scope).toEqual(['orders:read']);
  });
});
