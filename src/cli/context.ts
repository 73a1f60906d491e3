import { existsSync, statSync } from 'node:fs';

import type { Kysely } from 'kysely';

import { AccountService } from '../accounts/account-service.js';
import { ApiKeyService } from '../api-keys/api-key-service.js';
import { toAuditRecord } from '../audit/audit-trail.js';
import type { AuditEvent } from '../audit/events.js';
import { AuditRepository } from '../store/audit-repository.js';
import { escapeControlCharacters } from '../core/control-characters.js';
import { KeyedHash } from '../core/keyed-hash.js';
import { deriveKey } from '../core/secret-box.js';
import { loadConfig } from '../config/load.js';
import type { PortcullisConfig } from '../config/schema.js';
import type { AccountRepository } from '../store/account-repository.js';
import type { ClientRepository } from '../store/client-repository.js';
import { openDatabase } from '../store/database.js';
import { createRepositories } from '../store/repositories.js';
import { dataDirSource } from './options.js';
import { CliError } from './output.js';
import type { Database } from '../store/schema.js';
import { loadServerSecret, reportingSecretMismatch, serverSecretPath } from '../store/server-secret.js';
import type { SigningKeyRepository } from '../store/signing-key-repository.js';

/** The store of one data directory, opened for an admin command. */
export interface AdminContext {
  config: Readonly<PortcullisConfig>;
  db: Kysely<Database>;
  accounts: AccountRepository;
  accountService: AccountService;
  apiKeyService: ApiKeyService;
  clients: ClientRepository;
  signingKeys: SigningKeyRepository;
  auditEvents: AuditRepository;
  /** Stores an audit event of an admin action at once. A failure is reported on standard error and does not fail the command. */
  recordAudit(event: AuditEvent): Promise<void>;
  close(): Promise<void>;
}

export interface AdminContextOptions {
  /**
   * Create the data directory, database and server secret when they are
   * missing, as a first start does. Default false: a command that only reads
   * or changes existing records fails instead, so a mistyped path does not
   * look like an empty store.
   */
  createStore?: boolean;
}

/** Throws a CliError naming the option that chose `path` when it is not a directory. */
function checkDataDirExists(path: string, flag: string | undefined): void {
  if (existsSync(path) && statSync(path).isDirectory()) {
    return;
  }

  const source = dataDirSource(path, flag);
  const problem = existsSync(path) ? 'is not a directory' : 'does not exist';
  throw new CliError(
    `data directory ${path} ${problem}; check ${source}, or create the store with 'portcullis start' or 'portcullis users add'`,
  );
}

/**
 * Throws a CliError when `path` has no server secret, so that a command
 * given an existing directory that contains no store, such as `--data-dir .`,
 * does not create a database and a secret there and report an empty store.
 */
function checkServerSecretExists(path: string, flag: string | undefined): void {
  const secretPath = serverSecretPath(path);
  if (existsSync(secretPath)) {
    return;
  }

  throw new CliError(
    `data directory ${path} contains no Portcullis store (${secretPath} is missing); check ${dataDirSource(path, flag)}, ` +
      "or create the store with 'portcullis start' or 'portcullis users add'",
  );
}

/**
 * Opens the data directory that a running server uses. SQLite in WAL mode
 * lets this process write while the server runs. The server reads accounts
 * per request, reuses client, grant and API key checks for at most
 * `gateway.revocationCheckTtlMs` and polls signing keys, so changes apply
 * within that time or the polling interval.
 */
export async function openAdminContext(dataDir: string | undefined, options: AdminContextOptions = {}): Promise<AdminContext> {
  const config = loadConfig({ dataDir });
  if (options.createStore !== true) {
    checkDataDirExists(config.dataDir, dataDir);
    checkServerSecretExists(config.dataDir, dataDir);
  }
  const db = await openDatabase(config.database);
  const secret = loadServerSecret(config.dataDir);
  const repositories = createRepositories(db, secret);
  const hasher = new KeyedHash(deriveKey(secret, 'api key hashes'));
  const auditEvents = new AuditRepository(db);

  return {
    config,
    db,
    ...repositories,
    accountService: new AccountService(repositories.accounts),
    apiKeyService: new ApiKeyService(repositories.apiKeys, repositories.accounts, hasher),
    auditEvents,
    async recordAudit(event) {
      try {
        await auditEvents.insert([toAuditRecord(event)]);
      } catch (error) {
        process.stderr.write(`warning: recording the audit event ${event.type} failed: ${escapeControlCharacters((error as Error).message)}\n`);
      }
    },
    close: () => db.destroy(),
  };
}

/** Opens the admin context, runs `action` and always closes the database. */
export async function withAdminContext<T>(
  dataDir: string | undefined,
  action: (context: AdminContext) => Promise<T>,
  options: AdminContextOptions = {},
): Promise<T> {
  const context = await openAdminContext(dataDir, options);
  try {
    // A command run with another data directory's secret, such as a default
    // ./data next to a PostgreSQL URL, would otherwise seal a signing key or
    // hash a client secret or API key that no server can use.
    return await reportingSecretMismatch(serverSecretPath(context.config.dataDir), context.config.database, async () => {
      await context.signingKeys.checkServerSecret();
      return action(context);
    });
  } finally {
    await context.close();
  }
}
