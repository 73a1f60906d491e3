import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

import type { AuditRecord } from '../audit/events.js';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** The rate limiter and the kind of store it counts in. */
export interface RateLimitStoreSource {
  limiter: { readonly storeFailures: number };
  store: 'redis' | 'memory';
}

/** Route label of requests that matched no route, so raw paths never become label values. */
export const UNMATCHED_ROUTE = 'unmatched';

/** Upstream latency buckets, in seconds: 5 ms to 30 s, the default upstream timeout. */
const UPSTREAM_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * The Prometheus metrics of one Portcullis process, in a registry of its
 * own. Every label comes from a bounded set: route templates, methods,
 * status codes, configured policy names, grant types and fixed reasons,
 * never a raw URL, subject or client id.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly #requests = new Counter({
    name: 'portcullis_http_requests_total',
    help: 'HTTP requests by method, matched route template and response status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  readonly #authenticationFailures = new Counter({
    name: 'portcullis_authentication_failures_total',
    help: 'Failed authentications at the gateway, the sign-in page and the OAuth endpoints, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly #rateLimitRejections = new Counter({
    name: 'portcullis_rate_limit_rejections_total',
    help: 'Requests rejected by a rate limit or quota, by policy name.',
    labelNames: ['policy'] as const,
    registers: [this.registry],
  });

  readonly #upstreamDuration = new Histogram({
    name: 'portcullis_upstream_request_duration_seconds',
    help: 'Time from forwarding a request until the upstream response headers arrive, by method and route template.',
    labelNames: ['method', 'route'] as const,
    buckets: UPSTREAM_BUCKETS,
    registers: [this.registry],
  });

  readonly #tokensIssued = new Counter({
    name: 'portcullis_tokens_issued_total',
    help: 'Successful token endpoint responses, by grant type.',
    labelNames: ['grant_type'] as const,
    registers: [this.registry],
  });

  #rateLimitStore: RateLimitStoreSource | undefined;
  #rateLimitStoreFailuresSeen = 0;

  readonly #storeErrors = new Counter({
    name: 'portcullis_store_errors_total',
    help: 'Failed operations of the database and the rate-limit store (Redis or memory).',
    labelNames: ['store'] as const,
    registers: [this.registry],
    collect: () => this.#collectRateLimitStoreFailures(),
  });

  constructor() {
    // NOTE: prom-client 15 enables an event loop delay histogram here and
    // never disables it, so it keeps sampling after the instance closes.
    collectDefaultMetrics({ register: this.registry, prefix: 'portcullis_' });
  }

  countRequest(method: string, route: string | undefined, status: number): void {
    this.#requests.inc({ method: METHODS.has(method) ? method : 'OTHER', route: route ?? UNMATCHED_ROUTE, status: String(status) });
  }

  observeUpstream(method: string, route: string, seconds: number): void {
    this.#upstreamDuration.observe({ method, route }, seconds);
  }

  /** Counts the failures of the rate-limit store, which the limiter totals itself, at each scrape. */
  watchRateLimitStore(source: RateLimitStoreSource): void {
    this.#rateLimitStore = source;
    this.#rateLimitStoreFailuresSeen = source.limiter.storeFailures;
  }

  #collectRateLimitStoreFailures(): void {
    if (this.#rateLimitStore === undefined) {
      return;
    }

    const total = this.#rateLimitStore.limiter.storeFailures;
    if (total > this.#rateLimitStoreFailuresSeen) {
      this.#storeErrors.inc({ store: this.#rateLimitStore.store }, total - this.#rateLimitStoreFailuresSeen);
      this.#rateLimitStoreFailuresSeen = total;
    }
  }

  countStoreErrors(store: 'database' | 'redis' | 'memory', count = 1): void {
    this.#storeErrors.inc({ store }, count);
  }

  /** Counts the audit records that feed a metric; the reasons of those event types come from fixed sets. */
  observeAuditRecord(record: AuditRecord): void {
    const reason = record.reason ?? 'unknown';
    switch (record.type) {
      case 'authentication.failed':
        this.#authenticationFailures.inc({ reason });
        break;
      case 'login.failed':
        this.#authenticationFailures.inc({ reason: `login_${reason}` });
        break;
      case 'api_key.address_rejected':
        this.#authenticationFailures.inc({ reason: 'api_key_address_not_allowed' });
        break;
      case 'rate_limit.exceeded':
        this.#rateLimitRejections.inc({ policy: reason });
        break;
      case 'token.issued':
      case 'token.refreshed':
        this.#tokensIssued.inc({ grant_type: reason });
        break;
      default:
        break;
    }
  }
}
