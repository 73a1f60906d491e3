import type { FastifyReply, FastifyRequest } from 'fastify';

import { auditRequest } from '../audit/request-events.js';
import { clientAddressKey } from '../core/client-address.js';
import { parseDuration } from '../core/duration.js';
import type { Identity } from '../core/identity-headers.js';
import { ProblemError } from '../core/problem.js';
import { rateLimitHeaders, retryAfterSeconds } from '../core/rate-limit/headers.js';
import type { RateLimiter } from '../core/rate-limit/limiter.js';
import type { LimitCheck, LimitResult, RateLimitDecision } from '../core/rate-limit/types.js';
import { secondsText } from '../core/duration.js';
import { andThen, type Pending } from '../core/pending.js';
import type { LimitKeyPart, LimitRule } from '../config/schema.js';

const SUBJECT_NAMES: Record<LimitKeyPart, string> = { ip: 'client address', sub: 'user', client_id: 'OAuth client', api_key: 'API key' };

/** Context from which limit keys are built. */
export interface LimitContext {
  /** The request, of which only the client address is read. */
  request: Pick<FastifyRequest, 'ip'>;
  identity?: Identity | undefined;
  ipv6PrefixLength: number;
}

function keyPartValue(part: LimitKeyPart, context: LimitContext): string | undefined {
  switch (part) {
    case 'ip':
      return clientAddressKey(context.request.ip, context.ipv6PrefixLength);
    case 'sub':
      return context.identity?.subject;
    case 'client_id':
      return context.identity?.clientId;
    case 'api_key':
      return context.identity?.keyId;
  }
}

/** A function that builds a request's check of one prepared rule, or returns undefined when a key part is unknown. */
export type CheckBuilder = (context: LimitContext) => LimitCheck | undefined;

/**
 * Prepares the check of one rule for a kind and scope, once for all
 * requests, so that a request only reads its key parts. The builder
 * returns undefined when a key part is unknown (for example `sub` before
 * authentication).
 *
 * The key names the consumer first and the policy and route after the `|`,
 * so all limits of one consumer share a Redis Cluster hash slot. `scope` is
 * the matched route template, never the raw path, so that case, slashes,
 * dot segments or percent-encoding cannot open a second counter.
 */
export function compileCheck(rule: LimitRule, kind: LimitCheck['kind'], scope: string): CheckBuilder {
  const subject = rule.key.map((part) => SUBJECT_NAMES[part]).join(' and ');
  const suffix = `|${rule.name}:${scope}`;
  const rate = Object.freeze({ limit: rule.limit, periodMs: periodOf(rule.period), burst: rule.burst ?? rule.limit });

  return (context) => {
    let consumer = '';
    for (const part of rule.key) {
      const value = keyPartValue(part, context);
      if (value === undefined || value === '') {
        return undefined;
      }
      consumer += `${consumer === '' ? '' : '&'}${part}=${value}`;
    }

    return { policy: rule.name, kind, subject, key: `${consumer}${suffix}`, rate, onStoreFailure: rule.onStoreFailure };
  };
}

/** Builds the check of one rule for a request, as compileCheck prepares it. */
export function buildCheck(rule: LimitRule, context: LimitContext, kind: LimitCheck['kind'], scope: string): LimitCheck | undefined {
  return compileCheck(rule, kind, scope)(context);
}

/** Rule periods in milliseconds by their text, parsed once rather than on every request. */
const periods = new Map<string, number>();

function periodOf(period: string): number {
  let periodMs = periods.get(period);
  if (periodMs === undefined) {
    periodMs = parseDuration(period);
    periods.set(period, periodMs);
  }
  return periodMs;
}

function appendHeader(reply: FastifyReply, name: string, value: string): void {
  const existing = reply.getHeader(name);
  reply.header(name, existing === undefined ? value : `${String(existing)}, ${value}`);
}

function describeDenial(result: LimitResult, retryAfter: number): ProblemError {
  const { check } = result;
  const windowText = `${check.rate.limit} per ${humanDuration(check.rate.periodMs)} per ${check.subject}`;

  if (check.kind === 'quota') {
    const resetsAt = new Date(Date.now() + retryAfter * 1000).toISOString();
    return new ProblemError(
      'quota_exceeded',
      `The quota '${check.policy}' (${windowText}) is used up. It allows the next request in ${retryAfter} seconds, at ${resetsAt}.`,
      { headers: { 'retry-after': String(retryAfter) } },
    );
  }

  return new ProblemError('rate_limited', `The rate limit '${check.policy}' (${windowText}) was reached. Retry after ${secondsText(retryAfter)}.`, {
    headers: { 'retry-after': String(retryAfter) },
  });
}

function humanDuration(ms: number): string {
  const units: Array<[number, string]> = [
    [86_400_000, 'day'],
    [3_600_000, 'hour'],
    [60_000, 'minute'],
    [1000, 'second'],
  ];
  for (const [size, name] of units) {
    if (ms % size === 0) {
      const count = ms / size;
      return count === 1 ? name : `${count} ${name}s`;
    }
  }
  return `${ms} ms`;
}

/** The outcome of charging a request's limits: response headers, and the problem to send when denied. */
export interface LimitOutcome {
  headers: Record<string, string>;
  problem: ProblemError | undefined;
  /** The denied check, when the limits (not a store failure) denied the request. */
  denied: LimitResult | undefined;
}

/**
 * Charges the checks of a request and returns the RateLimit header fields,
 * with a 429 problem (or 503 when the store failed and a limit fails
 * closed) if any check denies the request.
 */
export function chargeLimits(limiter: RateLimiter, checks: LimitCheck[]): Pending<LimitOutcome> {
  if (checks.length === 0) {
    return { headers: {}, problem: undefined, denied: undefined };
  }

  return andThen(limiter.consume(checks), outcomeOf);
}

function outcomeOf(decision: RateLimitDecision): LimitOutcome {
  const headers = rateLimitHeaders(decision.results);
  if (decision.storeFailure !== undefined) {
    // The counters are unknown, and `r=0;t=0` would tell clients to stop
    // although an open limit admits them. The policies are still true.
    delete headers['ratelimit'];
  }
  if (decision.allowed) {
    return { headers, problem: undefined, denied: undefined };
  }

  if (decision.storeFailure !== undefined) {
    // The limiter logs store failures at most every 30 seconds, which an
    // error line for each rejected request would defeat during an outage.
    const problem = new ProblemError('service_unavailable', 'Rate limiting is temporarily unavailable. Retry shortly.', {
      headers: { 'retry-after': '1' },
      alreadyLogged: true,
    });
    return { headers, problem, denied: undefined };
  }

  const retryAfter = retryAfterSeconds(decision.results);
  const denied = decision.results.find((result) => !result.allowed) as LimitResult;
  return { headers, problem: describeDenial(denied, retryAfter), denied };
}

/**
 * Charges the checks of a request, adds the RateLimit header fields to the
 * response, and throws a 429 problem (or 503 when the store failed and a
 * limit fails closed) if any check denies the request. A store in this
 * process decides synchronously, so the problem is thrown. A remote store's
 * problem comes as a rejection.
 */
export function enforceLimits(request: FastifyRequest, reply: FastifyReply, limiter: RateLimiter, checks: LimitCheck[]): Pending<void> {
  return andThen(chargeLimits(limiter, checks), (outcome) => applyOutcome(request, reply, outcome));
}

function applyOutcome(request: FastifyRequest, reply: FastifyReply, outcome: LimitOutcome): void {
  for (const [name, value] of Object.entries(outcome.headers)) {
    appendHeader(reply, name, value);
  }

  if (outcome.problem === undefined) {
    return;
  }

  if (outcome.denied !== undefined) {
    const { policy } = outcome.denied.check;
    request.log.info({ policy, retryAfter: Number(outcome.problem.headers['retry-after']) }, 'rate limit reached');
    auditRequest(request, { type: 'rate_limit.exceeded', outcome: 'denied', reason: policy, detail: outcome.problem.detail });
  }
  throw outcome.problem;
}
