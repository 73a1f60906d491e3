import type { Logger } from 'pino';

import type { AuditRepository } from '../store/audit-repository.js';

/** How often events past the retention period are deleted, in milliseconds. */
const PURGE_INTERVAL_MS = 60 * 60 * 1000;

export interface AuditRetention {
  /** Settles when the purge at start has finished. */
  initialPurge: Promise<void>;
  stop(): void;
}

/** Deletes audit events older than `retentionMs` now and then every hour. */
export function startAuditRetention(repository: AuditRepository, retentionMs: number, logger: Logger): AuditRetention {
  const purge = async () => {
    try {
      const deleted = await repository.purgeOlderThan(Date.now() - retentionMs);
      if (deleted > 0) {
        logger.info({ deleted }, 'expired audit events deleted');
      }
    } catch (error) {
      logger.error({ err: error }, 'audit event purge failed');
    }
  };

  const initialPurge = purge();
  const timer = setInterval(() => void purge(), PURGE_INTERVAL_MS);
  timer.unref();
  return { initialPurge, stop: () => clearInterval(timer) };
}
