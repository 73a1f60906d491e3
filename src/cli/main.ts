#!/usr/bin/env node
import { Command, CommanderError } from 'commander';

import { registerApiKeyCommands } from './commands/apikeys.js';
import { registerAuditCommand } from './commands/audit.js';
import { registerClientCommands } from './commands/clients.js';
import { registerKeyCommands } from './commands/keys.js';
import { registerMigrateCommand } from './commands/migrate.js';
import { registerStartCommand } from './commands/start.js';
import { registerUserCommands } from './commands/users.js';
import { CliError } from './output.js';
import { BackendUnavailableError } from '../backends/backend-error.js';
import { ConfigError } from '../config/load.js';
import { ListenError } from '../server/listen-check.js';
import { DatabaseFileError, MissingSchemaError } from '../store/database.js';
import { ServerSecretFileError, ServerSecretMismatchError } from '../store/server-secret.js';

const program = new Command();
program
  .name('portcullis')
  .description('API security gateway with its own OAuth 2.0 / OpenID Connect authorization server')
  .showHelpAfterError()
  .exitOverride();

registerStartCommand(program);
registerMigrateCommand(program);
registerUserCommands(program);
registerClientCommands(program);
registerKeyCommands(program);
registerApiKeyCommands(program);
registerAuditCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exit(error.exitCode);
  }

  const explained =
    error instanceof CliError ||
    error instanceof BackendUnavailableError ||
    error instanceof ConfigError ||
    error instanceof ServerSecretMismatchError ||
    error instanceof ServerSecretFileError ||
    error instanceof ListenError ||
    error instanceof DatabaseFileError ||
    error instanceof MissingSchemaError;
  const message = explained ? error.message : `unexpected failure: ${(error as Error).message}`;
  process.stderr.write(`error: ${message}\n`);
  process.exit(1);
}
