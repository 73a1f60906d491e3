import type { Command } from 'commander';

import { ApiKeyOwnerInactiveError, ApiKeyRequestError, type ApiKeySummary, type NewApiKey } from '../../api-keys/api-key-service.js';
import { parseDuration, secondsText } from '../../core/duration.js';
import { CLI_ACTOR } from '../../audit/events.js';
import { escapeControlCharacters } from '../../core/control-characters.js';
import { CliError, createOutput, textRow } from '../output.js';
import { DATA_DIR_HELP, listOption } from '../options.js';
import { withAdminContext, type AdminContext } from '../context.js';
import { quoteArgument, unknownApiKeyIdMessage, unknownUsernameMessage } from '../arguments.js';

function seconds(option: string, value: string): number {
  if (value === '0') {
    return 0;
  }
  try {
    return parseDuration(value) / 1000;
  } catch {
    throw new CliError(`${option} must be a duration such as 30m, 24h or 90d, got ${quoteArgument(value)}`);
  }
}

/** The option of `apikeys create` that sets each field of a new key. */
const CREATE_OPTIONS: Partial<Record<keyof NewApiKey, string>> = {
  name: '--name',
  scopes: '--scope',
  allowedCidrs: '--cidr',
  expiresInSeconds: '--expires-in',
};

/** Returns the message of a rejected `apikeys create`, led by the option at fault. */
function createOptionProblem(error: ApiKeyRequestError): string {
  const option = error.field === undefined ? undefined : CREATE_OPTIONS[error.field];
  return option === undefined ? error.message : `${option}: ${error.message}`;
}

type ListedKey = ApiKeySummary & { owner: string | null };

function describe(summary: ListedKey): string {
  // A key has no scopes when its owner lost the roles that all of them need.
  const scopes = summary.scopes.length === 0 ? 'no scopes' : summary.scopes.join(' ');
  return textRow([summary.id, summary.state, `owner ${summary.owner ?? 'unknown'}`, summary.name, scopes, `expires ${summary.expiresAt ?? 'never'}`]);
}

/** Adds each key's owner username, or null for an account that no longer exists. */
async function withOwnerNames(context: AdminContext, keys: Array<ApiKeySummary & { ownerId: string }>): Promise<ListedKey[]> {
  const names = new Map<string, string | null>();
  for (const ownerId of new Set(keys.map((key) => key.ownerId))) {
    names.set(ownerId, (await context.accounts.findById(ownerId, { includeDisabled: true }))?.username ?? null);
  }
  return keys.map(({ ownerId, ...summary }) => ({ ...summary, owner: names.get(ownerId) ?? null }));
}

async function ownerId(context: AdminContext, username: string): Promise<string> {
  const owner = await context.accounts.findByUsername(username);
  if (owner === undefined) {
    throw new CliError(`--owner: ${unknownUsernameMessage(username)}`);
  }
  return owner.id;
}

interface CreateOptions {
  owner: string;
  name: string;
  scope: string[];
  cidr: string[];
  expiresIn?: string;
  env: string;
  dataDir?: string;
  json?: boolean;
}

/** Registers `portcullis apikeys create|list|rotate|revoke`. */
export function registerApiKeyCommands(program: Command): void {
  const apikeys = program.command('apikeys').description('manage API keys of any account');

  apikeys
    .command('create')
    .description('issue an API key; it is shown once and stored only as a keyed hash')
    .requiredOption('--owner <username>', 'account that owns the key')
    .requiredOption('--name <name>', 'name that tells the key apart')
    .addOption(listOption('--scope <scope>', 'scope the key carries, within the owner\'s; repeatable, at least one').makeOptionMandatory())
    .addOption(listOption('--cidr <range>', 'source address range allowed to use the key, such as 203.0.113.0/24; repeatable', 'any address'))
    .option('--expires-in <duration>', 'lifetime such as 30d (default: no expiry)')
    .option('--env <environment>', 'environment marker in the key: live or test', 'live')
    .option('--data-dir <path>', DATA_DIR_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (options: CreateOptions) => {
      if (options.env !== 'live' && options.env !== 'test') {
        throw new CliError(`--env must be live or test, got ${quoteArgument(options.env)}`);
      }

      await withAdminContext(options.dataDir, async (context) => {
        const owner = await context.accounts.findByUsername(options.owner);
        if (owner === undefined) {
          throw new CliError(`--owner: ${unknownUsernameMessage(options.owner)}`);
        }
        if (owner.disabledAt !== null) {
          throw new CliError(`account '${owner.username}' is disabled; enable it first with 'portcullis users enable ${owner.username}'`);
        }

        try {
          const created = await context.apiKeyService.create(owner, {
            name: options.name,
            scopes: options.scope,
            allowedCidrs: options.cidr,
            ...(options.expiresIn === undefined ? {} : { expiresInSeconds: seconds('--expires-in', options.expiresIn) }),
            environment: options.env as 'live' | 'test',
          });
          await context.recordAudit({ type: 'api_key.created', outcome: 'success', actor: CLI_ACTOR, keyId: created.summary.id, detail: `owner ${owner.id}` });
          const text = `key: ${created.value}\nid: ${created.summary.id}\nThe key is shown only this once; store it now.`;
          createOutput(options.json === true).result({ key: created.value, ...created.summary }, text);
        } catch (error) {
          if (error instanceof ApiKeyRequestError) {
            throw new CliError(createOptionProblem(error));
          }
          // The account was disabled or removed after it was read above.
          if (error instanceof ApiKeyOwnerInactiveError) {
            throw new CliError(`account '${owner.username}' was disabled or removed while the key was created, so no key was stored`);
          }
          throw error;
        }
      });
    });

  apikeys
    .command('list')
    .description('list API keys (never the keys themselves)')
    .option('--owner <username>', 'only the keys of this account')
    .option('--data-dir <path>', DATA_DIR_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (options: { owner?: string; dataDir?: string; json?: boolean }) => {
      await withAdminContext(options.dataDir, async (context) => {
        const owner = options.owner === undefined ? undefined : await ownerId(context, options.owner);
        const list = await withOwnerNames(context, await context.apiKeyService.listWithOwners(owner));
        createOutput(options.json === true).result(list, list.map(describe).join('\n') || 'no API keys');
      });
    });

  apikeys
    .command('rotate')
    .description('issue a successor; the old key keeps working for the grace period')
    .argument('<id>', 'id of the key to rotate')
    .option('--grace <duration>', 'how long the old key keeps working, such as 24h, or 0 (default: the configured rotation grace)')
    .option('--data-dir <path>', DATA_DIR_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (id: string, options: { grace?: string; dataDir?: string; json?: boolean }) => {
      await withAdminContext(options.dataDir, async (context) => {
        const grace = seconds('--grace', options.grace ?? context.config.apiKeys.rotationGrace);
        const rotated = await context.apiKeyService.rotate(id, grace).catch((error: unknown) => {
          if (!(error instanceof ApiKeyRequestError)) {
            throw error;
          }
          throw new CliError(error.field === 'scopes' ? error.message : `--grace: ${error.message}`);
        });
        if (rotated === undefined) {
          throw new CliError(unknownApiKeyIdMessage(id));
        }
        await context.recordAudit({ type: 'api_key.rotated', outcome: 'success', actor: CLI_ACTOR, keyId: id, detail: `successor ${rotated.summary.id}` });
        const text = `key: ${rotated.value}\nid: ${rotated.summary.id}\nThe old key ${escapeControlCharacters(id)} stops working in ${secondsText(rotated.graceSeconds)}.`;
        createOutput(options.json === true).result({ key: rotated.value, replaces: id, graceSeconds: rotated.graceSeconds, ...rotated.summary }, text);
      });
    });

  apikeys
    .command('revoke')
    .description('revoke an API key; a running server rejects it within gateway.revocationCheckTtlMs (1 s by default)')
    .argument('<id>', 'id of the key to revoke')
    .option('--data-dir <path>', DATA_DIR_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (id: string, options: { dataDir?: string; json?: boolean }) => {
      await withAdminContext(options.dataDir, async (context) => {
        if (!(await context.apiKeyService.revoke(id))) {
          throw new CliError(unknownApiKeyIdMessage(id));
        }
        await context.recordAudit({ type: 'api_key.revoked', outcome: 'success', actor: CLI_ACTOR, keyId: id });
        createOutput(options.json === true).result({ id, revoked: true }, `revoked API key ${escapeControlCharacters(id)}`);
      });
    });
}
