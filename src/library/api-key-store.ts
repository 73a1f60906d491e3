import { existsSync } from 'node:fs';
import { join } from 'node:path';

import type { ApiKeyVerification } from '../api-keys/api-key-service.js';

/** Portcullis's API keys, opened from its data directory, for services that check keys themselves. */
export interface ApiKeyStore {
  /** Checks a presented key, and the client address against the key's allowed CIDRs. */
  verify(key: string, clientAddress: string): Promise<ApiKeyVerification>;
  /** Closes the database once the last uses of verified keys are recorded. */
  close(): Promise<void>;
}

export interface ApiKeyStoreOptions {
  /** Portcullis's data directory: the SQLite database and the server secret that keys the hashes. */
  dataDir: string;
  /** Called when recording a key's last use fails; verification goes on. Default: a process warning. */
  onError?: (error: unknown) => void;
}

/**
 * Opens the API key store of a Portcullis data directory on this machine.
 *
 * The directory must already exist with its database and server secret,
 * so a wrong path fails instead of creating an empty store. The store
 * modules are loaded on first use, so services that accept only tokens
 * never load SQLite.
 */
export async function openApiKeyStore(options: ApiKeyStoreOptions): Promise<ApiKeyStore> {
  if (typeof options.dataDir !== 'string' || options.dataDir === '') {
    throw new RangeError(
      `dataDir must be the path of the data directory of a Portcullis that has started once, such as './data', got ${JSON.stringify(options.dataDir) ?? 'undefined'}.`,
    );
  }

  const [{ DATABASE_FILE, defaultDatabaseUrl }, { openDatabase }, { SERVER_SECRET_FILE, loadServerSecret }] = await Promise.all([
    import('../store/database-url.js'),
    import('../store/database.js'),
    import('../store/server-secret.js'),
  ]);

  for (const file of [DATABASE_FILE, SERVER_SECRET_FILE]) {
    if (!existsSync(join(options.dataDir, file))) {
      throw new Error(`${join(options.dataDir, file)} does not exist; set dataDir to the data directory of a Portcullis that has started once.`);
    }
  }

  const [{ createRepositories }, { ApiKeyService }, { KeyedHash }, { deriveKey }] = await Promise.all([
    import('../store/repositories.js'),
    import('../api-keys/api-key-service.js'),
    import('../core/keyed-hash.js'),
    import('../core/secret-box.js'),
  ]);

  // NOTE: only the default SQLite store of the data directory is supported, not a PostgreSQL `database` setting.
  const db = await openDatabase(defaultDatabaseUrl(options.dataDir));
  const serverSecret = loadServerSecret(options.dataDir);
  const { accounts, apiKeys } = createRepositories(db, serverSecret);
  const onError = options.onError ?? ((error: unknown) => process.emitWarning(`Recording API key use failed: ${String(error)}`));
  const service = new ApiKeyService(apiKeys, accounts, new KeyedHash(deriveKey(serverSecret, 'api key hashes')), onError);

  return {
    verify: (key, clientAddress) => service.verify(key, clientAddress),
    close: async () => {
      await service.flushLastUse();
      await db.destroy();
    },
  };
}
