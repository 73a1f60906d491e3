import { AccountService } from '../../src/accounts/account-service.js';
import { ApiKeyService } from '../../src/api-keys/api-key-service.js';
import { KeyedHash } from '../../src/core/keyed-hash.js';
import { deriveKey } from '../../src/core/secret-box.js';
import { openDatabase } from '../../src/store/database.js';
import { defaultDatabaseUrl } from '../../src/store/database-url.js';
import { createRepositories } from '../../src/store/repositories.js';
import { loadServerSecret } from '../../src/store/server-secret.js';

/** Creates a Portcullis data directory with one account and returns an API key of that account. */
export async function createDataDirWithKey(dataDir: string): Promise<{ key: string; ownerId: string }> {
  const db = await openDatabase(defaultDatabaseUrl(dataDir));
  try {
    const serverSecret = loadServerSecret(dataDir);
    const { accounts, apiKeys } = createRepositories(db, serverSecret);
    const owner = await new AccountService(accounts).register({ username: 'keyholder', email: 'keyholder@example.com', password: 'Correct-Horse-Battery-9' }, []);
    const service = new ApiKeyService(apiKeys, accounts, new KeyedHash(deriveKey(serverSecret, 'api key hashes')), () => undefined);
    const created = await service.create(owner, { name: 'library test', scopes: ['orders:read'] });
    return { key: created.value, ownerId: owner.id };
  } finally {
    await db.destroy();
  }
}
