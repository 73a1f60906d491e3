/** A failed check of a token's grant, such as when the service's store is down. The service, not the caller, is at fault. */
export class GrantCheckUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GrantCheckUnavailableError';
  }
}

/**
 * Wraps the `isGrantActive` option of a service, so that a check that
 * throws or rejects becomes a GrantCheckUnavailableError, for which the
 * authenticator sends 503 rather than the 500 of an unexpected error.
 */
export function guardGrantCheck(check: (grantId: string) => Promise<boolean>): (grantId: string) => Promise<boolean> {
  return async (grantId) => {
    try {
      return await check(grantId);
    } catch (error) {
      throw new GrantCheckUnavailableError('The check of a grant failed.', { cause: error });
    }
  };
}
