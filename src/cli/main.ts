#!/usr/bin/env node
import { Command, CommanderError } from 'commander';

import { registerApiKeyCommands } from './commands/apikeys.js';
import { registerAuditCommand } from './commands/audit.js';
import { registerClientCommands } from './commands/clients.js';
import { registerKeyCommands } from './commands/keys.js';
import { registerMigrateCommand } from './commands/migrate.js';
import { registerStartCommand } from './commands/start.js';
import { registerUserCommands } from './commands/users.js';
import { CliError, configFailure } from './output.js';
import { escapeControlCharacters } from '../core/control-characters.js';
import { redactEmbeddedSecrets } from '../core/credential-shapes.js';
import { REDACTED } from '../core/log-redaction.js';
import { BackendUnavailableError } from '../backends/backend-error.js';
import { ConfigError } from '../config/load.js';
import { ListenError } from '../server/listen-check.js';
import { DatabaseFileError, MissingSchemaError } from '../store/database.js';
import { ServerSecretFileError, ServerSecretMismatchError } from '../store/server-secret.js';

/**
 * Escapes an error message of Commander, which quotes unknown commands,
 * options and arguments. Commander may end the message with a suggestion
 * on a line of its own, such as "(Did you mean --role?)", which names only
 * known commands and options, so that line feed is kept.
 */
function escapeCommanderError(text: string): string {
  const message = text.endsWith('\n') ? text.slice(0, -1) : text;
  const suggestionStart = message.lastIndexOf('\n(Did you mean ');
  if (suggestionStart === -1) {
    return `${escapeControlCharacters(message)}\n`;
  }
  return `${escapeControlCharacters(message.slice(0, suggestionStart))}\n${escapeControlCharacters(message.slice(suggestionStart + 1))}\n`;
}

/**
 * Replaces every part of an error message with the shape of a credential.
 * Commander and the errors of libraries quote arguments, option values and
 * paths, and an admin may paste an API key, a token or a client secret into
 * any of them, so no message on standard error repeats one.
 */
function redactErrorText(text: string): string {
  return redactEmbeddedSecrets(text, REDACTED);
}

const program = new Command();
program
  .name('portcullis')
  .description('API security gateway with its own OAuth 2.0 / OpenID Connect authorization server')
  .showHelpAfterError()
  .exitOverride()
  // Commander quotes unknown commands, options and arguments in its errors.
  // Set before the subcommands are added, which copy it.
  .configureOutput({ outputError: (text, write) => write(redactErrorText(escapeCommanderError(text))) });

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
    error instanceof ServerSecretMismatchError ||
    error instanceof ServerSecretFileError ||
    error instanceof ListenError ||
    error instanceof DatabaseFileError ||
    error instanceof MissingSchemaError;
  // A CliError is escaped when it is created. Messages of other errors can
  // quote paths, URLs and configuration values, so they are escaped
  // completely here. Of them, only a ConfigError has several lines.
  let message: string;
  if (error instanceof CliError) {
    message = error.message;
  } else if (error instanceof ConfigError) {
    message = configFailure(error).message;
  } else if (explained) {
    message = escapeControlCharacters(error.message);
  } else {
    message = escapeControlCharacters(`unexpected failure: ${(error as Error).message}`);
  }
  process.stderr.write(`error: ${redactErrorText(message)}\n`);
  process.exit(1);
}
