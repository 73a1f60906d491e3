import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';

import { AuditTrail } from '../audit/audit-trail.js';
import { trackOAuthRequests } from '../audit/provider-events.js';
import { startAuditRetention } from '../audit/retention.js';
import type { PortcullisConfig } from '../config/schema.js';
import { parseDuration } from '../core/duration.js';
import type { RateLimiter } from '../core/rate-limit/limiter.js';
import type { Logger } from '../http/logger.js';
import { installMetricsHooks } from '../metrics/http-hooks.js';
import type { Metrics } from '../metrics/metrics.js';
import { startMetricsServer, type MetricsServer } from '../metrics/server.js';
import { AuditRepository } from '../store/audit-repository.js';
import type { Database } from '../store/schema.js';
import { metricsListener, reportingListenError } from './listen-check.js';
import type { ResourceStack } from './resource-stack.js';

/** The audit trail and, when turned on, the metrics with their listener. */
export interface Observability {
  audit: AuditTrail;
  metrics: Metrics | undefined;
  metricsServer: MetricsServer | undefined;
  /** Adds the audit trail and the metrics hooks to the public app; call before registering routes. */
  install(app: FastifyInstance, limiter: RateLimiter): void;
}

function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/**
 * Starts the audit trail with its retention purge, and the metrics listener
 * when `metrics.enabled`, and adds the steps that close them to `resources`.
 */
export async function startObservability(
  config: Readonly<PortcullisConfig>,
  db: Kysely<Database>,
  logger: Logger,
  resources: ResourceStack,
): Promise<Observability> {
  // prom-client is loaded only when metrics are on, so that it takes no memory otherwise.
  const metrics = config.metrics.enabled ? new (await import('../metrics/metrics.js')).Metrics() : undefined;
  const repository = new AuditRepository(db);
  const audit = new AuditTrail(repository, logger.child({ component: 'audit' }), {
    onWriteError: (_error, records) => metrics?.countStoreErrors('database', records),
  });
  resources.defer('audit trail', () => audit.close());
  const retention = startAuditRetention(repository, parseDuration(config.audit.retention), logger);
  resources.defer('audit retention purge', async () => {
    retention.stop();
    await retention.initialPurge;
  });

  let metricsServer: MetricsServer | undefined;
  if (metrics !== undefined) {
    audit.subscribe((record) => metrics.observeAuditRecord(record));
    const server = await reportingListenError(metricsListener(config), () =>
      startMetricsServer(metrics, config.metrics.host, config.metrics.port, logger),
    );
    resources.defer('metrics listener', () => server.close());
    metricsServer = server;
    logger.info({ url: metricsServer.url }, 'metrics listening');
    if (!isLoopbackHost(config.metrics.host)) {
      logger.warn({ host: config.metrics.host }, 'metrics listener accepts connections from other machines; restrict it with a firewall');
    }
  }

  return {
    audit,
    metrics,
    metricsServer,
    install(app, limiter) {
      app.decorate('audit', audit);
      trackOAuthRequests(app);
      if (metrics !== undefined) {
        installMetricsHooks(app, metrics);
        metrics.watchRateLimitStore({ limiter, store: config.rateLimit.store });
      }
    },
  };
}
