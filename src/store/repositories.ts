import type { Kysely } from 'kysely';

import { ClientSecretHasher } from '../core/client-secrets.js';
import { SecretBox, deriveKey } from '../core/secret-box.js';
import { AccountRepository } from './account-repository.js';
import { ApiKeyRepository } from './api-key-repository.js';
import { ClientRepository } from './client-repository.js';
import type { Database } from './schema.js';
import { SigningKeyRepository } from './signing-key-repository.js';

export interface Repositories {
  accounts: AccountRepository;
  apiKeys: ApiKeyRepository;
  clients: ClientRepository;
  signingKeys: SigningKeyRepository;
}

/** Creates the repositories over one database, each sealing with its own key derived from the server secret. */
export function createRepositories(db: Kysely<Database>, serverSecret: Buffer): Repositories {
  return {
    accounts: new AccountRepository(db),
    apiKeys: new ApiKeyRepository(db),
    clients: new ClientRepository(
      db,
      new SecretBox(serverSecret, 'client secrets'),
      new ClientSecretHasher(deriveKey(serverSecret, 'client secret hashes'), deriveKey(serverSecret, 'client secret stand-ins')),
    ),
    signingKeys: new SigningKeyRepository(db, new SecretBox(serverSecret, 'signing keys')),
  };
}
