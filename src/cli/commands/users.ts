import type { Command } from 'commander';

import { RegistrationError, ROLES, type Role } from '../../accounts/account-service.js';
import { CLI_ACTOR } from '../../audit/events.js';
import { escapeControlCharacters } from '../../core/control-characters.js';
import { checkRegistration, type RuleViolation } from '../../core/registration-rules.js';
import type { Account, AccountRepository, Revoked } from '../../store/account-repository.js';
import { CliError, createOutput, textRow } from '../output.js';
import { DATA_DIR_HELP, listOption } from '../options.js';
import { readSecret } from '../stdin.js';
import { withAdminContext } from '../context.js';
import { quoteArgument, unknownUsernameMessage } from '../arguments.js';

interface AddOptions {
  email: string;
  role: string[];
  dataDir?: string;
  json?: boolean;
}

/** Checks the roles given on the command line; returns each once, in the order given. */
function parseRoles(roles: string[]): Role[] {
  for (const role of roles) {
    if (!(ROLES as readonly string[]).includes(role)) {
      throw new CliError(`unknown role ${quoteArgument(role)}; known roles: ${ROLES.join(', ')}`);
    }
  }
  return [...new Set(roles)] as Role[];
}

/** Returns the CliError for a rejected registration, one line per violation. */
function registrationFailure(violations: readonly RuleViolation[]): CliError {
  return new CliError(violations.map((violation) => `${violation.field}: ${violation.message}`));
}

/** Returns the username of `account` with control and format characters escaped, for the text output. */
function printableUsername(account: Account): string {
  return escapeControlCharacters(account.username);
}

/** Finds an account by username, disabled or not, or stops with a CliError. */
async function accountNamed(accounts: AccountRepository, username: string): Promise<Account> {
  const account = await accounts.findByUsername(username);
  if (account === undefined) {
    throw new CliError(unknownUsernameMessage(username));
  }
  return account;
}

/** Describes revoked grants for the text output and audit details. */
function describeRevokedGrants(count: number): string {
  return count === 1 ? 'revoked 1 grant with its tokens and sessions' : `revoked ${count} grants with their tokens and sessions`;
}

/** Describes what disabling or removing an account revoked: grants and API keys. */
function describeRevoked(revoked: Revoked): string {
  return `${describeRevokedGrants(revoked.grants)}, and ${revoked.apiKeys} API key${revoked.apiKeys === 1 ? '' : 's'}`;
}

/**
 * Registers `portcullis users add|list|disable|sign-out|enable|roles|remove`.
 *
 * Changes apply to a running server within `gateway.revocationCheckTtlMs`,
 * the time for which it reuses a grant or API key check.
 */
export function registerUserCommands(program: Command): void {
  const users = program.command('users').description('manage end-user accounts');

  users
    .command('add')
    .description('create an account; the password is read from standard input')
    .argument('<username>', '3 to 30 letters, digits or underscores')
    .requiredOption('--email <email>', 'email address of the account')
    .addOption(listOption('--role <role>', `give the account a role (${ROLES.join(', ')}); repeatable`, 'none'))
    .option('--data-dir <path>', DATA_DIR_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (username: string, options: AddOptions) => {
      const roles = parseRoles(options.role);
      const password = await readSecret('Password: ');
      if (password === '') {
        throw new CliError('no password given: the first line of standard input was empty. Pipe the password as that line, or type it at the prompt in a terminal');
      }

      // Checked before the store is opened, which creates a missing data
      // directory, so a rejected account leaves no new store behind.
      const input = { username, email: options.email, password };
      const violations = checkRegistration(input);
      if (violations.length > 0) {
        throw registrationFailure(violations);
      }

      await withAdminContext(options.dataDir, async ({ accountService, recordAudit }) => {
        try {
          const account = await accountService.register(input, roles);
          const granted = roles.length === 0 ? 'no roles' : `roles ${roles.join(',')}`;
          await recordAudit({ type: 'account.created', outcome: 'success', actor: CLI_ACTOR, detail: `account ${account.id} with ${granted}` });
          const summary = { id: account.id, username: account.username, email: account.email, roles: account.roles };
          createOutput(options.json === true).result(summary, `created account ${printableUsername(account)} (${account.id})`);
        } catch (error) {
          if (error instanceof RegistrationError) {
            throw registrationFailure(error.violations);
          }
          throw error;
        }
      }, { createStore: true });
    });

  users
    .command('list')
    .description('list accounts')
    .option('--data-dir <path>', DATA_DIR_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (options: { dataDir?: string; json?: boolean }) => {
      await withAdminContext(options.dataDir, async ({ accounts }) => {
        const list = (await accounts.list()).map((account) => ({
          id: account.id,
          username: account.username,
          email: account.email,
          roles: account.roles,
          disabled: account.disabledAt !== null,
        }));
        const text = list
          .map((account) => textRow([account.username, account.email, account.roles.join(',') || '-', account.disabled ? 'disabled' : 'active', account.id]))
          .join('\n');
        createOutput(options.json === true).result(list, text || 'no accounts');
      });
    });

  users
    .command('disable')
    .description('lock an account out: refuse its sign-ins and revoke its grants, tokens, sessions and API keys')
    .argument('<username>', 'the account to disable')
    .option('--data-dir <path>', DATA_DIR_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (username: string, options: { dataDir?: string; json?: boolean }) => {
      await withAdminContext(options.dataDir, async ({ accounts, recordAudit }) => {
        const account = await accountNamed(accounts, username);
        const result = await accounts.disable(account.id);
        if (result === undefined) {
          throw new CliError(unknownUsernameMessage(username));
        }

        if (!result.alreadyDisabled) {
          await recordAudit({ type: 'account.disabled', outcome: 'success', actor: CLI_ACTOR, detail: `account ${account.id}; ${describeRevoked(result.revoked)}` });
        }
        const summary = { id: account.id, username: account.username, disabled: true, revoked: result.revoked };
        const text = result.alreadyDisabled ? `account ${printableUsername(account)} was disabled already` : `disabled account ${printableUsername(account)}; ${describeRevoked(result.revoked)}`;
        createOutput(options.json === true).result(summary, text);
      });
    });

  users
    .command('sign-out')
    .description('end an account\'s sessions and revoke its grants and tokens, keeping the account and its API keys')
    .argument('<username>', 'the account to sign out everywhere')
    .option('--data-dir <path>', DATA_DIR_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (username: string, options: { dataDir?: string; json?: boolean }) => {
      await withAdminContext(options.dataDir, async ({ accounts, recordAudit }) => {
        const account = await accountNamed(accounts, username);
        const result = await accounts.signOut(account.id);
        if (result === undefined) {
          throw new CliError(unknownUsernameMessage(username));
        }

        await recordAudit({
          type: 'token.revoked',
          outcome: 'success',
          actor: CLI_ACTOR,
          reason: 'signed_out',
          detail: `account ${account.id}; ${describeRevokedGrants(result.grants)}`,
        });
        const text = `signed out account ${printableUsername(account)}; ${describeRevokedGrants(result.grants)}`;
        createOutput(options.json === true).result({ id: account.id, username: account.username, revoked: { grants: result.grants } }, text);
      });
    });

  users
    .command('enable')
    .description('let a disabled account sign in again (its revoked grants and API keys stay revoked)')
    .argument('<username>', 'the account to enable')
    .option('--data-dir <path>', DATA_DIR_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (username: string, options: { dataDir?: string; json?: boolean }) => {
      await withAdminContext(options.dataDir, async ({ accounts, recordAudit }) => {
        const account = await accountNamed(accounts, username);
        const enabled = await accounts.enable(account.id);
        if (enabled) {
          await recordAudit({ type: 'account.enabled', outcome: 'success', actor: CLI_ACTOR, detail: `account ${account.id}` });
        }
        const text = enabled ? `enabled account ${printableUsername(account)}` : `account ${printableUsername(account)} was not disabled`;
        createOutput(options.json === true).result({ id: account.id, username: account.username, disabled: false }, text);
      });
    });

  users
    .command('roles')
    .description('replace the roles of an account; taking a role away revokes its grants and tokens')
    .argument('<username>', 'the account to change')
    .addOption(listOption('--role <role>', `role the account has from now on (${ROLES.join(', ')}); repeatable`))
    .option('--none', 'take every role away')
    .option('--data-dir <path>', DATA_DIR_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (username: string, options: { role?: string[]; none?: boolean; dataDir?: string; json?: boolean }) => {
      // Without either option the command would silently take every role away.
      const requested = options.role ?? [];
      if (options.none === true && requested.length > 0) {
        throw new CliError('give either --role or --none, not both');
      }
      if (options.none !== true && requested.length === 0) {
        throw new CliError('give the new roles with --role, or --none to take every role away');
      }
      const roles = parseRoles(requested);

      await withAdminContext(options.dataDir, async ({ accounts, recordAudit }) => {
        const account = await accountNamed(accounts, username);
        const result = await accounts.setRoles(account.id, roles);
        if (result === undefined) {
          throw new CliError(unknownUsernameMessage(username));
        }

        const from = result.previous.join(',') || 'none';
        const to = roles.join(',') || 'none';
        const changed = new Set(result.previous).size !== roles.length || result.previous.some((role) => !roles.includes(role as Role));
        if (changed) {
          await recordAudit({ type: 'account.roles_changed', outcome: 'success', actor: CLI_ACTOR, detail: `account ${account.id} from ${from} to ${to}; ${describeRevokedGrants(result.revoked.grants)}` });
        }

        const summary = { id: account.id, username: account.username, roles, previousRoles: result.previous, revoked: result.revoked };
        const revokedText = result.revoked.grants > 0 ? `; ${describeRevokedGrants(result.revoked.grants)}` : '';
        const text = changed ? `roles of ${printableUsername(account)}: ${to} (were ${from})${revokedText}` : `roles of ${printableUsername(account)} unchanged: ${to}`;
        createOutput(options.json === true).result(summary, text);
      });
    });

  users
    .command('remove')
    .description('delete an account with its grants, tokens, sessions and API keys; audit events keep its id')
    .argument('<username>', 'the account to remove')
    .option('--data-dir <path>', DATA_DIR_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (username: string, options: { dataDir?: string; json?: boolean }) => {
      await withAdminContext(options.dataDir, async ({ accounts, recordAudit }) => {
        const account = await accountNamed(accounts, username);
        const revoked = await accounts.remove(account.id);
        if (revoked === undefined) {
          throw new CliError(unknownUsernameMessage(username));
        }

        await recordAudit({ type: 'account.removed', outcome: 'success', actor: CLI_ACTOR, detail: `account ${account.id}; ${describeRevoked(revoked)}` });
        createOutput(options.json === true).result({ id: account.id, username: account.username, removed: true, revoked }, `removed account ${printableUsername(account)}; ${describeRevoked(revoked)}`);
      });
    });
}
