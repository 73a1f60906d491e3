import { hashPassword, verifyAgainstDecoy, verifyPassword } from '../core/passwords.js';
import { checkRegistration, type RegistrationInput, type RuleViolation } from '../core/registration-rules.js';
import type { Account, AccountRepository } from '../store/account-repository.js';
import { DuplicateError } from '../store/errors.js';

export const ROLES = ['admin'] as const;
export type Role = (typeof ROLES)[number];

/** The result of a sign-in attempt. */
export type Authentication =
  | { outcome: 'authenticated'; account: Account }
  | { outcome: 'account_disabled'; account: Account }
  | { outcome: 'invalid_credentials' };

/** Registration that broke one or more rules; each violation names its field. */
export class RegistrationError extends Error {
  readonly violations: RuleViolation[];

  constructor(violations: RuleViolation[]) {
    super(violations.map((violation) => violation.message).join(' '));
    this.name = 'RegistrationError';
    this.violations = violations;
  }
}

/** Registers accounts and checks their passwords. */
export class AccountService {
  readonly #accounts: AccountRepository;

  constructor(accounts: AccountRepository) {
    this.#accounts = accounts;
  }

  /**
   * Creates an account after checking the registration rules.
   *
   * Throws RegistrationError listing every broken rule, including a taken
   * username or email, and writes nothing in that case.
   */
  async register(input: RegistrationInput, roles: Role[] = []): Promise<Account> {
    const violations = checkRegistration(input);
    if (violations.length > 0) {
      throw new RegistrationError(violations);
    }

    const passwordHash = await hashPassword(input.password);

    try {
      return await this.#accounts.create({ username: input.username, email: input.email, passwordHash, roles });
    } catch (error) {
      if (error instanceof DuplicateError) {
        const field = error.field === 'email' ? 'email' : 'username';
        const message = field === 'email' ? 'Email is already registered.' : 'Username is already taken.';
        throw new RegistrationError([{ field, message }]);
      }
      throw error;
    }
  }

  /**
   * Checks a username and password, taking the same time whether or not the
   * username exists. A disabled account is `account_disabled` only when its
   * password matched, so that someone who does not know the password
   * learns no more than from a wrong one.
   */
  async authenticate(username: string, password: string): Promise<Authentication> {
    const account = await this.#accounts.findByUsername(username);
    if (account === undefined) {
      await verifyAgainstDecoy(password);
      return { outcome: 'invalid_credentials' };
    }

    if (!(await verifyPassword(account.passwordHash, password))) {
      return { outcome: 'invalid_credentials' };
    }

    return account.disabledAt === null ? { outcome: 'authenticated', account } : { outcome: 'account_disabled', account };
  }
}
