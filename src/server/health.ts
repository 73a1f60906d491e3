import type { FastifyInstance } from 'fastify';

import { OUTAGE_RETRY_AFTER_SECONDS } from '../backends/outage.js';
import { ProblemError } from '../core/problem.js';
import { sendProblem } from '../http/problems.js';
import { withTimeout } from '../core/timeout.js';

/** A backend that must respond for the instance to be ready. */
export interface ReadinessCheck {
  /** Name shown in the response, for example `postgres`. */
  name: string;
  /** Resolves when the backend responds, and rejects otherwise. */
  probe(): Promise<unknown>;
}

/** How long each readiness probe may take, in milliseconds. */
const PROBE_TIMEOUT_MS = 2000;

async function probeWithTimeout(check: ReadinessCheck): Promise<boolean> {
  try {
    await withTimeout(check.probe(), PROBE_TIMEOUT_MS, () => new Error('timed out'));
    return true;
  } catch {
    return false;
  }
}

/**
 * Registers `GET /healthz` (the process serves requests) and `GET /readyz`
 * (every backend responds, or a 503 problem with Retry-After), for load
 * balancers and orchestrators.
 */
export function healthRoutes(app: FastifyInstance, checks: readonly ReadinessCheck[]): void {
  app.get('/healthz', async (_request, reply) => reply.header('cache-control', 'no-store').send({ status: 'ok' }));

  app.get('/readyz', async (request, reply) => {
    const results = await Promise.all(checks.map(async (check) => [check.name, await probeWithTimeout(check)] as const));
    const down = results.filter(([, up]) => !up).map(([name]) => name);

    if (down.length > 0) {
      request.log.warn({ down }, 'readiness check failed');
      return sendProblem(
        reply,
        new ProblemError('service_unavailable', `Backends not reachable: ${down.join(', ')}.`, {
          headers: { 'retry-after': String(OUTAGE_RETRY_AFTER_SECONDS) },
        }),
      );
    }

    const backends = Object.fromEntries(results.map(([name]) => [name, 'up']));
    return reply.header('cache-control', 'no-store').send({ status: 'ready', backends });
  });
}
