import { AccountService, type Role } from '../../src/accounts/account-service.js';
import { AccountRepository } from '../../src/store/account-repository.js';
import type { TestServer } from './server.js';

export const TEST_PASSWORD = 'Correct-Horse-Battery-9';

/** Registers an account directly in the server's store. */
export async function createUser(server: TestServer, username: string, roles: Role[] = []): Promise<{ id: string; username: string; password: string }> {
  const service = new AccountService(new AccountRepository(server.running.db));
  const account = await service.register({ username, email: `${username}@example.com`, password: TEST_PASSWORD }, roles);
  return { id: account.id, username, password: TEST_PASSWORD };
}
