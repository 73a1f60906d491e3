import type { LimitRule } from '../config/schema.js';
import type { Identity } from '../core/identity-headers.js';
import { ProblemError } from '../core/problem.js';
import { rejectCredentialsInQuery } from '../gateway/authenticate.js';
import { authorize } from '../gateway/authorize.js';
import { Authenticator, type Authentication, type AuthenticatorSettings, type CredentialRequest, type KeySetLog } from './authenticator.js';
import { chargeRequest, validateLimitRules, validateRateLimitSettings, type RateLimitSettings } from './rate-limit.js';

/** The requirements of a route for its caller. */
export interface RouteAccess {
  /**
   * Skips authentication, limits and checks for this route, but still
   * rejects credentials in its query string with 400. Default false.
   */
  public?: boolean;
  /** Scopes the caller must all hold (403 `insufficient_scope` otherwise). */
  scopes?: readonly string[];
  /** Roles the caller must all have (403 `forbidden` otherwise). */
  roles?: readonly string[];
  /** Limits of this route, charged after the service-wide ones. */
  limits?: readonly LimitRule[];
}

function isStringList(value: unknown): boolean {
  return Array.isArray(value) && value.every((entry) => typeof entry === 'string' && entry !== '');
}

/**
 * Throws a TypeError for route access settings of the wrong shape, such as
 * `scopes: 'admin'` where a list belongs. Checked when the route is
 * declared, so a typing mistake stops the service at start instead of
 * failing every request to the route with a 500.
 */
export function validateRouteAccess(access: unknown): void {
  if (access === null || typeof access !== 'object' || Array.isArray(access)) {
    throw new TypeError(`Route access must be an object such as { scopes: ['orders:read'] }, got ${JSON.stringify(access)}.`);
  }

  const { public: isPublic, scopes, roles, limits } = access as Record<string, unknown>;
  if (isPublic !== undefined && typeof isPublic !== 'boolean') {
    throw new TypeError(`Route access: public must be true or false, got ${JSON.stringify(isPublic)}.`);
  }
  for (const [name, value] of [['scopes', scopes], ['roles', roles]] as const) {
    if (value !== undefined && !isStringList(value)) {
      throw new TypeError(`Route access: ${name} must be a list of non-empty strings such as ['admin'], got ${JSON.stringify(value)}.`);
    }
  }
  if (limits !== undefined && !Array.isArray(limits)) {
    throw new TypeError(`Route access: limits must be a list of rate limits, got ${JSON.stringify(limits)}.`);
  }
}

/** Settings shared by the Express middleware and the Fastify plugin. */
export interface GuardSettings extends AuthenticatorSettings {
  rateLimit?: RateLimitSettings;
}

/** The outcome of guarding one request, with the RateLimit header fields to send either way. */
export type GuardResult =
  | { allowed: true; authentication: Authentication; headers: Record<string, string> }
  | { allowed: false; problem: ProblemError; headers: Record<string, string> };

/**
 * Runs the checks of a protected request in order: authenticate, charge the
 * rate limits, then check the route's scopes and roles. Every step fails
 * closed with a problem.
 */
export class RequestGuard {
  readonly #authenticator: Authenticator;
  readonly #rateLimit: RateLimitSettings | undefined;

  /** Creates the guard for `settings`. Failed background fetches of remote key sets go to `log`. */
  constructor(settings: GuardSettings, log?: KeySetLog) {
    this.#authenticator = new Authenticator(settings, log);
    this.#rateLimit = settings.rateLimit;
    if (settings.rateLimit !== undefined) {
      validateRateLimitSettings(settings.rateLimit);
    }
  }

  /** Validates a route's access settings once, when the route is declared. */
  validateAccess(access: RouteAccess): void {
    validateRouteAccess(access);
    validateLimitRules(access.limits ?? []);
    // A public route skips the guard, so its limits would never be charged.
    if (access.public === true && (access.limits ?? []).length > 0) {
      throw new RangeError('A public route declares limits, but the guard charges no limits on public routes; remove public: true or the limits.');
    }
    if ((access.limits ?? []).length > 0 && this.#rateLimit === undefined) {
      throw new RangeError('A route declares limits, but no rateLimit limiter is configured.');
    }
  }

  /**
   * Charges only the route's own limits, for a caller that an earlier check
   * of the same request already authenticated and charged.
   */
  async chargeRouteLimits(
    request: { ip: string; log: CredentialRequest['log'] },
    identity: Identity,
    access: RouteAccess,
    scope: string,
  ): Promise<{ headers: Record<string, string>; problem: ProblemError | undefined }> {
    if (this.#rateLimit === undefined || (access.limits ?? []).length === 0) {
      return { headers: {}, problem: undefined };
    }

    const outcome = await chargeRequest({ ...this.#rateLimit, limits: [] }, access.limits ?? [], { ip: request.ip, identity }, scope);
    if (outcome.problem !== undefined) {
      request.log.info({ code: outcome.problem.code }, 'rate limit reached');
    }
    return { headers: outcome.headers, problem: outcome.problem };
  }

  /**
   * Returns the 400 for a request to a public route that carries credentials
   * in its query string, or undefined. The route reads no credential, but
   * proxies and logs would keep one sent there, so the request is rejected
   * as the gateway rejects it on its public operations.
   */
  checkPublic(request: Pick<CredentialRequest, 'query'>): ProblemError | undefined {
    try {
      rejectCredentialsInQuery(request);
      return undefined;
    } catch (error) {
      if (error instanceof ProblemError) {
        return error;
      }
      throw error;
    }
  }

  /** Guards one request to the route `scope` (method and route template). */
  async check(request: CredentialRequest & { ip: string }, access: RouteAccess, scope: string): Promise<GuardResult> {
    let headers: Record<string, string> = {};

    try {
      const authentication = await this.#authenticator.authenticate(request);

      if (this.#rateLimit !== undefined) {
        const outcome = await chargeRequest(this.#rateLimit, access.limits ?? [], { ip: request.ip, identity: authentication.identity }, scope);
        headers = outcome.headers;
        if (outcome.problem !== undefined) {
          request.log.info({ code: outcome.problem.code }, 'rate limit reached');
          return { allowed: false, problem: outcome.problem, headers };
        }
      }

      authorize(authentication.identity, { scopes: access.scopes ?? [], roles: access.roles ?? [] });
      return { allowed: true, authentication, headers };
    } catch (error) {
      if (error instanceof ProblemError) {
        return { allowed: false, problem: error, headers };
      }
      throw error;
    }
  }
}
