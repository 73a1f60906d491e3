import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';

import { readFileSync } from 'node:fs';

import { CLI_ACTOR } from '../../audit/events.js';
import { clientSigningKeyProblem } from '../../core/client-signing-keys.js';
import { generateClientSecret } from '../../core/client-secrets.js';
import { codePointCount, codePointLabel, escapeControlCharacters, findControlCharacter } from '../../core/control-characters.js';
import { checkNativeRedirectUri, checkRedirectUri } from '../../core/redirect-uri-rules.js';
import { API_SCOPES, OIDC_SCOPES } from '../../core/scopes.js';
import { DEFAULT_ID_TOKEN_SIGNING_ALGORITHM, LEGACY_CLIENT_ID_TOKEN_SIGNING_ALGORITHM, SIGNING_ALGORITHMS, isSigningAlgorithm } from '../../keys/signing-keys.js';
import type { ClientMetadata } from '../../store/client-repository.js';
import { DuplicateError } from '../../store/errors.js';
import { CliError, createOutput, textRow } from '../output.js';
import { DATA_DIR_HELP, listOption } from '../options.js';
import { withAdminContext } from '../context.js';
import { quoteArgument } from '../arguments.js';

interface AddOptions {
  name: string;
  redirectUri: string[];
  public?: boolean;
  confidential?: boolean;
  native?: boolean;
  grant: string[];
  scope: string[];
  auth: string;
  jwksFile?: string;
  idTokenSignedResponseAlg?: string;
  dataDir?: string;
  json?: boolean;
}

const GRANTS = ['authorization_code', 'refresh_token', 'client_credentials'];
const KNOWN_SCOPES = new Set<string>([...API_SCOPES, ...OIDC_SCOPES]);
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];

/**
 * Reads and parses the JWK Set file. Errors name the file but never quote
 * it, because V8's JSON.parse message quotes the start of the text, and a
 * wrong path may point at a private key or the server secret.
 */
function readJwksFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CliError(`--jwks-file ${path}: cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }

  try {
    return JSON.parse(text);
  } catch {
    throw new CliError(`--jwks-file ${path}: is not valid JSON. Pass a JWK Set file ({"keys": [...]})`);
  }
}

function readJwks(path: string): { keys: Array<Record<string, unknown>> } {
  const parsed = readJwksFile(path);

  const keys = parsed !== null && typeof parsed === 'object' ? (parsed as { keys?: unknown }).keys : undefined;
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every((key) => key !== null && typeof key === 'object')) {
    throw new CliError(`--jwks-file ${path}: must be a JWK Set with at least one key ({"keys": [...]})`);
  }
  (keys as Array<Record<string, unknown>>).forEach((key, index) => {
    if (PRIVATE_JWK_MEMBERS.some((member) => member in key)) {
      throw new CliError(`--jwks-file ${path}: contains a private or symmetric key; register only public keys`);
    }
    // A key that cannot verify assertions would leave a client that can never authenticate.
    const problem = clientSigningKeyProblem(key);
    if (problem !== undefined) {
      throw new CliError(`--jwks-file ${path}: key ${index} cannot verify client assertions: ${problem}`);
    }
  });
  return { keys: keys as Array<Record<string, unknown>> };
}

/**
 * Returns the client's ID token algorithm, or undefined for a client without
 * the authorization_code grant, which gets no ID tokens. The default is
 * stored as well, because the provider signs ES256 ID tokens, as earlier
 * versions did, for a client stored without one.
 */
function chooseIdTokenAlgorithm(options: AddOptions, usesRedirects: boolean): string | undefined {
  const alg = options.idTokenSignedResponseAlg;
  if (alg === undefined) {
    return usesRedirects ? DEFAULT_ID_TOKEN_SIGNING_ALGORITHM : undefined;
  }
  if (!isSigningAlgorithm(alg)) {
    throw new CliError(`--id-token-signed-response-alg must be one of ${SIGNING_ALGORITHMS.join(', ')}, got ${quoteArgument(alg)}`);
  }
  if (!usesRedirects) {
    throw new CliError('--id-token-signed-response-alg applies only to the authorization_code grant, the one that issues ID tokens');
  }
  return alg;
}

function chooseGrants(options: AddOptions): string[] {
  const grants = options.grant.length > 0 ? [...new Set(options.grant)] : ['authorization_code', 'refresh_token'];
  const unknown = grants.filter((grant) => !GRANTS.includes(grant));
  if (unknown.length > 0) {
    throw new CliError(`unknown --grant ${unknown.join(', ')}; known grants: ${GRANTS.join(', ')}`);
  }
  if (options.public && grants.includes('client_credentials')) {
    throw new CliError('public clients cannot use the client_credentials grant; use --confidential');
  }
  if (grants.includes('refresh_token') && !grants.includes('authorization_code')) {
    throw new CliError('--grant refresh_token needs --grant authorization_code');
  }
  return grants;
}


/**
 * Generates a client id: 128 random bits in base64url, drawn again when the
 * text starts with "-" or "_". An id that starts with "-" reads as an
 * option on the command line, so `clients remove <id>` would reject it.
 */
export function generateClientId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (/^[A-Za-z0-9]/.test(id)) {
      return id;
    }
  }
}

function buildMetadata(options: AddOptions): { metadata: ClientMetadata; secret?: string } {
  if (options.public === options.confidential) {
    throw new CliError('pass exactly one of --public (PKCE, no secret) or --confidential (client secret)');
  }

  // The consent page shows the name to users, so a bidirectional override
  // or a zero-width character there could disguise the client.
  const control = findControlCharacter(options.name);
  if (control !== undefined) {
    throw new CliError(`--name contains ${codePointLabel(control)}, a control or format character; use printable characters only`);
  }
  const name = options.name.trim();
  if (name === '' || codePointCount(name) > 100) {
    throw new CliError('--name must be 1 to 100 characters');
  }

  const grants = chooseGrants(options);
  const usesRedirects = grants.includes('authorization_code');
  if (usesRedirects && options.redirectUri.length === 0) {
    throw new CliError('at least one --redirect-uri is required for the authorization_code grant');
  }
  if (!usesRedirects && options.redirectUri.length > 0) {
    throw new CliError('--redirect-uri applies only to the authorization_code grant');
  }

  if (options.native && !options.public) {
    throw new CliError('--native applies only to --public clients: an app on the user\'s device cannot keep a secret');
  }
  const check = options.native ? checkNativeRedirectUri : checkRedirectUri;
  const problems = options.redirectUri.map(check).filter((problem) => problem !== undefined);
  if (problems.length > 0) {
    throw new CliError(problems.map((problem) => `--redirect-uri ${problem}`));
  }

  const unknownScopes = options.scope.filter((scope) => !KNOWN_SCOPES.has(scope));
  if (unknownScopes.length > 0) {
    throw new CliError(`unknown --scope ${unknownScopes.join(', ')}; known scopes: ${[...KNOWN_SCOPES].join(', ')}`);
  }
  // Client credentials tokens carry API scopes only, because there is no user for an OpenID scope to describe.
  const apiScopes: ReadonlySet<string> = new Set(API_SCOPES);
  if (grants.includes('client_credentials') && !options.scope.some((scope) => apiScopes.has(scope))) {
    throw new CliError(`a client_credentials client needs at least one API --scope (${API_SCOPES.join(', ')})`);
  }

  if (options.auth !== 'client_secret_basic' && options.auth !== 'private_key_jwt') {
    throw new CliError(`--auth must be client_secret_basic or private_key_jwt, got ${quoteArgument(options.auth)}`);
  }
  if (options.public && (options.auth !== 'client_secret_basic' || options.jwksFile !== undefined)) {
    throw new CliError('--auth and --jwks-file apply only to --confidential clients');
  }
  if ((options.auth === 'private_key_jwt') !== (options.jwksFile !== undefined)) {
    throw new CliError('--auth private_key_jwt needs --jwks-file with the client\'s public keys, and --jwks-file needs it');
  }

  const idTokenAlgorithm = chooseIdTokenAlgorithm(options, usesRedirects);

  const metadata: ClientMetadata = {
    client_id: generateClientId(),
    client_name: name,
    redirect_uris: [...new Set(options.redirectUri)],
    grant_types: grants,
    response_types: usesRedirects ? ['code'] : [],
    token_endpoint_auth_method: options.public ? 'none' : (options.auth as ClientMetadata['token_endpoint_auth_method']),
    application_type: options.native ? 'native' : 'web',
    ...(options.scope.length > 0 ? { allowed_scopes: [...new Set(options.scope)].join(' ') } : {}),
    ...(idTokenAlgorithm === undefined ? {} : { id_token_signed_response_alg: idTokenAlgorithm }),
  };

  if (options.public) {
    return { metadata };
  }

  if (options.jwksFile !== undefined) {
    return { metadata: { ...metadata, jwks: readJwks(options.jwksFile) } };
  }

  const secret = generateClientSecret();
  return { metadata: { ...metadata, client_secret: secret }, secret };
}

/** Registers `portcullis clients add|list|remove`. */
export function registerClientCommands(program: Command): void {
  const clients = program.command('clients').description('manage OAuth clients');

  clients
    .command('add')
    .description('register an OAuth client: authorization code with PKCE, or client credentials for services')
    .requiredOption('--name <name>', 'name shown to users on the consent page')
    .addOption(listOption('--redirect-uri <uri>', 'exact redirect URI; repeatable', 'none'))
    .option('--public', 'a public client (browser or native app): PKCE, no secret')
    .option('--confidential', 'a confidential client (server-side app or service): a client secret, printed once, or private_key_jwt')
    .option('--native', 'with --public: an app on the user\'s device (RFC 8252); its redirect URIs may use a private-use scheme (com.example.app:/path), and its loopback ones accept any port')
    .addOption(listOption('--grant <grant>', `grant type; repeatable (${GRANTS.join(', ')})`, 'authorization_code and refresh_token'))
    .addOption(listOption('--scope <scope>', 'scope the client may request; repeatable', 'any'))
    .option('--auth <method>', 'token endpoint authentication of a confidential client: client_secret_basic or private_key_jwt', 'client_secret_basic')
    .option('--jwks-file <path>', 'JWK Set file with the public keys of a private_key_jwt client')
    .option(
      '--id-token-signed-response-alg <alg>',
      `JWS algorithm of the client's ID tokens: ${SIGNING_ALGORITHMS.join(' or ')} (default ${DEFAULT_ID_TOKEN_SIGNING_ALGORITHM}; authorization_code grant only)`,
    )
    .option('--data-dir <path>', DATA_DIR_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (options: AddOptions) => {
      const { metadata, secret } = buildMetadata(options);

      await withAdminContext(options.dataDir, async ({ clients: repository, recordAudit }) => {
        try {
          await repository.create(metadata);
        } catch (error) {
          if (error instanceof DuplicateError) {
            throw new CliError('a client with the generated client_id exists; run the command again');
          }
          throw error;
        }
        const detail = `grants ${metadata.grant_types.join(',')}`;
        await recordAudit({ type: 'client.created', outcome: 'success', actor: CLI_ACTOR, clientId: metadata.client_id, detail });
      }, { createStore: true });

      const result = {
        client_id: metadata.client_id,
        client_name: metadata.client_name,
        type: options.public ? 'public' : 'confidential',
        application_type: metadata.application_type,
        redirect_uris: metadata.redirect_uris,
        grant_types: metadata.grant_types,
        token_endpoint_auth_method: metadata.token_endpoint_auth_method,
        ...(metadata.id_token_signed_response_alg === undefined ? {} : { id_token_signed_response_alg: metadata.id_token_signed_response_alg }),
        ...(metadata.allowed_scopes === undefined ? {} : { scope: metadata.allowed_scopes }),
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
        // A client stored by an earlier version, without an ID token algorithm, gets ES256.
        const list = (await repository.list()).map((client) => ({
          ...client,
          idTokenSignedResponseAlg: client.idTokenSignedResponseAlg ?? (client.grantTypes.includes('authorization_code') ? LEGACY_CLIENT_ID_TOKEN_SIGNING_ALGORITHM : null),
        }));
        const text = list
          .map((client) => textRow([client.clientId, `${client.type}${client.applicationType === 'native' ? ' native' : ''}`, client.name, client.redirectUris.join(' ')]))
          .join('\n');
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
      await withAdminContext(options.dataDir, async ({ clients: repository, recordAudit }) => {
        if (!(await repository.remove(clientId))) {
          throw new CliError(`no client with client_id ${quoteArgument(clientId)}; run 'portcullis clients list' for the client ids`);
        }
        await recordAudit({ type: 'client.removed', outcome: 'success', actor: CLI_ACTOR, clientId });
        createOutput(options.json === true).result({ client_id: clientId, removed: true }, `removed client ${escapeControlCharacters(clientId)}`);
      });
    });
}
