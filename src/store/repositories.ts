import type { Kysely } from 'kysely';

import { SecretBox } from '../core/secret-box.js';
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
    clients: new ClientRepository(db, new SecretBox(serverSecret, 'client secrets')),
    signingKeys: new SigningKeyRepository(db, new SecretBox(serverSecret, 'signing keys')),
  };
}
