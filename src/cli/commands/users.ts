import type { Command } from 'commander';

import { RegistrationError, ROLES, type Role } from '../../accounts/account-service.js';
import { CLI_ACTOR } from '../../audit/events.js';
import { CliError, createOutput, textRow } from '../output.js';
import { listOption } from '../options.js';
import { readSecret } from '../stdin.js';
import { withAdminContext } from '../context.js';

interface AddOptions {
  email: string;
  role: string[];
  dataDir?: string;
  json?: boolean;
}

function parseRoles(roles: string[]): Role[] {
  for (const role of roles) {
    if (!(ROLES as readonly string[]).includes(role)) {
      throw new CliError(`unknown role '${role}'; known roles: ${ROLES.join(', ')}`);
    }
  }
  return roles as Role[];
}

/**
 * Registers `portcullis users add` and `portcullis users list`.
 *
 * NOTE: there is no command to disable or remove an account or to change its
 * roles, so locking out a compromised account means editing the database.
 */
export function registerUserCommands(program: Command): void {
  const users = program.command('users').description('manage end-user accounts');

  users
    .command('add')
    .description('create an account; the password is read from standard input')
    .argument('<username>', '3 to 30 letters, digits or underscores')
    .requiredOption('--email <email>', 'email address of the account')
    .addOption(listOption('--role <role>', `give the account a role (${ROLES.join(', ')}); repeatable`, 'none'))
    .option('--data-dir <path>', 'data directory (default: $PORTCULLIS_DATA_DIR or ./data)')
    .option('--json', 'print the result as JSON')
    .action(async (username: string, options: AddOptions) => {
      const roles = parseRoles(options.role);
      const password = await readSecret('Password: ');
      if (password === '') {
        throw new CliError('no password given: the first line of standard input was empty. Pipe the password as that line, or type it at the prompt in a terminal');
      }

      await withAdminContext(options.dataDir, async ({ accountService, recordAudit }) => {
        try {
          const account = await accountService.register({ username, email: options.email, password }, roles);
          const granted = roles.length === 0 ? 'no roles' : `roles ${roles.join(',')}`;
          await recordAudit({ type: 'account.created', outcome: 'success', actor: CLI_ACTOR, detail: `account ${account.id} with ${granted}` });
          const summary = { id: account.id, username: account.username, email: account.email, roles: account.roles };
          createOutput(options.json === true).result(summary, `created account ${account.username} (${account.id})`);
        } catch (error) {
          if (error instanceof RegistrationError) {
            throw new CliError(error.violations.map((violation) => `${violation.field}: ${violation.message}`).join('\n'));
          }
          throw error;
        }
      }, { createStore: true });
    });

  users
    .command('list')
    .description('list accounts')
    .option('--data-dir <path>', 'data directory (default: $PORTCULLIS_DATA_DIR or ./data)')
    .option('--json', 'print the result as JSON')
    .action(async (options: { dataDir?: string; json?: boolean }) => {
      await withAdminContext(options.dataDir, async ({ accounts }) => {
        const list = (await accounts.list()).map((account) => ({
          id: account.id,
          username: account.username,
          email: account.email,
          roles: account.roles,
        }));
        const text = list.map((account) => textRow([account.username, account.email, account.roles.join(',') || '-', account.id])).join('\n');
        createOutput(options.json === true).result(list, text || 'no accounts');
      });
    });
}
