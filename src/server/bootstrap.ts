import { randomBytes } from 'node:crypto';

import type { AccountService } from '../accounts/account-service.js';
import { checkPassword } from '../core/registration-rules.js';
import { DEFAULT_ID_TOKEN_SIGNING_ALGORITHM, ensureSigningKeys, type SigningAlgorithm } from '../keys/signing-keys.js';
import type { AccountRepository } from '../store/account-repository.js';
import type { ClientRepository } from '../store/client-repository.js';
import type { SigningKeyRepository } from '../store/signing-key-repository.js';

export const ADMIN_USERNAME = 'admin';
export const ADMIN_EMAIL = 'admin@portcullis.invalid';
export const DEMO_CLIENT_ID = 'portcullis-demo';

/** What the first start created; the password is shown once and stored only as a hash. */
export interface BootstrapResult {
  /** Algorithms whose signing key this start created: all of them on the first start. */
  signingKeysCreated: SigningAlgorithm[];
  admin?: { id: string; username: string; password: string };
  demoClient?: { clientId: string; redirectUri: string };
}

/** Generates a random password of 32 characters that satisfies the registration rules. */
export function generatePassword(): string {
  for (;;) {
    const candidate = randomBytes(24).toString('base64url');
    if (checkPassword(candidate, ADMIN_USERNAME, ADMIN_EMAIL).length === 0) {
      return candidate;
    }
  }
}

export interface BootstrapDependencies {
  accounts: AccountRepository;
  accountService: AccountService;
  clients: ClientRepository;
  signingKeys: SigningKeyRepository;
  /** Redirect URI of the demo client. */
  demoRedirectUri: string;
}

/**
 * Prepares an empty data directory: a signing key for each algorithm, an
 * `admin` account with a random password (there are no default credentials)
 * and a public demo client. Each step runs only when its part is missing, so
 * later starts change nothing, and a store made before RS256 keys existed
 * gets only its RS256 key.
 */
export async function bootstrap(deps: BootstrapDependencies): Promise<BootstrapResult> {
  const firstStart = (await deps.signingKeys.listActiveAlgorithms()).length === 0;
  const result: BootstrapResult = { signingKeysCreated: await ensureSigningKeys(deps.signingKeys) };

  if ((await deps.accounts.count()) === 0) {
    const password = generatePassword();
    const admin = await deps.accountService.register({ username: ADMIN_USERNAME, email: ADMIN_EMAIL, password }, ['admin']);
    result.admin = { id: admin.id, username: ADMIN_USERNAME, password };
  }

  // Only on the very first start, so a demo client that an administrator
  // removed does not come back.
  if (firstStart && (await deps.clients.find(DEMO_CLIENT_ID)) === undefined) {
    await deps.clients.create({
      client_id: DEMO_CLIENT_ID,
      client_name: 'Portcullis demo',
      redirect_uris: [deps.demoRedirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      application_type: 'web',
      id_token_signed_response_alg: DEFAULT_ID_TOKEN_SIGNING_ALGORITHM,
    });
    result.demoClient = { clientId: DEMO_CLIENT_ID, redirectUri: deps.demoRedirectUri };
  }

  return result;
}
