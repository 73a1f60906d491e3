import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';

import { checkRedirectUri } from '../../core/redirect-uri-rules.js';
import type { ClientMetadata } from '../../store/client-repository.js';
import { DuplicateError } from '../../store/errors.js';
import { CliError, createOutput } from '../output.js';
import { withAdminContext } from '../context.js';

interface AddOptions {
  name: string;
  redirectUri: string[];
  public?: boolean;
  confidential?: boolean;
  dataDir?: string;
  json?: boolean;
}

const DATA_DIR_HELP = 'data directory (default: $PORTCULLIS_DATA_DIR or ./data)';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function buildMetadata(options: AddOptions): { metadata: ClientMetadata; secret?: string } {
  if (options.public === options.confidential) {
    throw new CliError('pass exactly one of --public (PKCE, no secret) or --confidential (client secret)');
  }

  const name = options.name.trim();
  if (name === '' || name.length > 100) {
    throw new CliError('--name must be 1 to 100 characters');
  }

  if (options.redirectUri.length === 0) {
    throw new CliError('at least one --redirect-uri is required');
  }

  const problems = options.redirectUri.map(checkRedirectUri).filter((problem) => problem !== undefined);
  if (problems.length > 0) {
    throw new CliError(problems.map((problem) => `--redirect-uri ${problem}`).join('\n'));
  }

  const metadata: ClientMetadata = {
    client_id: randomBytes(16).toString('base64url'),
    client_name: name,
    redirect_uris: [...new Set(options.redirectUri)],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: options.public ? 'none' : 'client_secret_basic',
    application_type: 'web',
  };

  if (options.public) {
    return { metadata };
  }

  const secret = randomBytes(32).toString('base64url');
  return { metadata: { ...metadata, client_secret: secret }, secret };
}

/** Registers `portcullis clients add|list|remove`. */
export function registerClientCommands(program: Command): void {
  const clients = program.command('clients').description('manage OAuth clients');

  clients
    .command('add')
    .description('register an OAuth client for the authorization code flow with PKCE')
    .requiredOption('--name <name>', 'name shown to users on the consent page')
    .option('--redirect-uri <uri>', 'exact redirect URI; repeatable', collect, [])
    .option('--public', 'a public client (browser or native app): PKCE, no secret')
    .option('--confidential', 'a confidential client (server-side app): PKCE and a client secret, printed once')
    .option('--data-dir <path>', DATA_DIR_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (options: AddOptions) => {
      const { metadata, secret } = buildMetadata(options);

      await withAdminContext(options.dataDir, async ({ clients: repository }) => {
        try {
          await repository.create(metadata);
        } catch (error) {
          if (error instanceof DuplicateError) {
            throw new CliError('a client with the generated client_id exists; run the command again');
          }
          throw error;
        }
      });

      const result = {
        client_id: metadata.client_id,
        client_name: metadata.client_name,
        type: options.public ? 'public' : 'confidential',
        redirect_uris: metadata.redirect_uris,
        ...(secret === undefined ? {} : { client_secret: secret }),
      };
      const lines = [`client_id: ${result.client_id}`];
      if (secret !== undefined) {
        lines.push(`client_secret: ${secret}`, 'The client secret is shown only this once; store it now.');
      }
      createOutput(options.json === true).result(result, lines.join('\n'));
    });

  clients
    .command('list')
    .description('list OAuth clients (secrets are never shown)')
    .option('--data-dir <path>', DATA_DIR_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (options: { dataDir?: string; json?: boolean }) => {
      await withAdminContext(options.dataDir, async ({ clients: repository }) => {
        const list = await repository.list();
        const text = list.map((client) => `${client.clientId}\t${client.type}\t${client.name}\t${client.redirectUris.join(' ')}`).join('\n');
        createOutput(options.json === true).result(list, text || 'no clients');
      });
    });

  clients
    .command('remove')
    .description('remove a client and revoke every grant and token issued to it')
    .argument('<client_id>', 'the client to remove')
    .option('--data-dir <path>', DATA_DIR_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (clientId: string, options: { dataDir?: string; json?: boolean }) => {
      await withAdminContext(options.dataDir, async ({ clients: repository }) => {
        if (!(await repository.remove(clientId))) {
          throw new CliError(`no client with client_id '${clientId}'`);
        }
        createOutput(options.json === true).result({ client_id: clientId, removed: true }, `removed client ${clientId}`);
      });
    });
}
