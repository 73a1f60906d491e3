import type { FastifyRequest } from 'fastify';

import type { AccountRepository } from '../store/account-repository.js';
import { auditRequest } from './request-events.js';

/**
 * Records a failed sign-in. The actor is the account id when the username
 * exists. The typed username itself is never stored, because users sometimes
 * type their password into that field. The look-up runs after the response,
 * so it adds nothing to the sign-in time.
 */
export function auditLoginFailure(
  request: FastifyRequest,
  accounts: AccountRepository,
  attempt: { username: string; clientId: string; reason: 'invalid_credentials' | 'account_disabled' | 'throttled' },
): void {
  setImmediate(() => {
    accounts.findByUsername(attempt.username).then(
      (account) => auditRequest(request, { type: 'login.failed', outcome: 'failure', actor: account?.id, clientId: attempt.clientId, reason: attempt.reason }),
      (error: unknown) => request.log.error({ err: error }, 'recording a failed sign-in failed'),
    );
  });
}
