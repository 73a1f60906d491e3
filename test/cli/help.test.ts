import { Command } from 'commander';
import { describe, expect, it } from 'vitest';

import { registerApiKeyCommands } from '../../src/cli/commands/apikeys.js';
import { registerAuditCommand } from '../../src/cli/commands/audit.js';
import { registerClientCommands } from '../../src/cli/commands/clients.js';
import { registerKeyCommands } from '../../src/cli/commands/keys.js';
import { registerMigrateCommand } from '../../src/cli/commands/migrate.js';
import { registerStartCommand } from '../../src/cli/commands/start.js';
import { registerUserCommands } from '../../src/cli/commands/users.js';

/** Returns every command below `command`, depth first. */
function commandsOf(command: Command): Command[] {
  return command.commands.flatMap((child) => [child, ...commandsOf(child)]);
}

describe('CLI help', () => {
  const program = new Command('portcullis');
  for (const register of [registerStartCommand, registerMigrateCommand, registerUserCommands, registerClientCommands, registerKeyCommands, registerApiKeyCommands, registerAuditCommand]) {
    register(program);
  }

  const options = commandsOf(program).flatMap((command) =>
    command.options.map((option) => ({ name: `${command.name()} ${option.long ?? option.flags}`, help: command.createHelp().optionDescription(option) })),
  );

  it('covers the options with defaults', () => {
    expect(options.map((option) => option.name)).toEqual(expect.arrayContaining(['add --role', 'add --grant', 'audit --type', 'audit --limit', 'create --cidr']));
  });

  it.each(options)('names at most one default for $name', ({ help }) => {
    expect(help.match(/default:/g)?.length ?? 0).toBeLessThanOrEqual(1);
    expect(help).not.toContain('(default: [])');
  });
});
