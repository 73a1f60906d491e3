import type { FastifyReply, FastifyRequest } from 'fastify';

import { endpointTemplate } from '../authorization-server/endpoint-methods.js';
import { ROUTES } from '../authorization-server/provider-routes.js';
import type { PortcullisConfig } from '../config/schema.js';
import { ProblemError } from '../core/problem.js';
import type { RateLimiter } from '../core/rate-limit/limiter.js';
import type { LimitCheck } from '../core/rate-limit/types.js';
import { callbackHook } from '../http/hooks.js';
import { compileCheck, enforceLimits } from '../http/rate-limit.js';

/**
 * Maximum request target length on the OAuth endpoints, in characters.
 * Every authorization request is stored until it expires, so an oversized
 * `state` or other parameter would let anonymous callers fill the store.
 */
export const MAX_OAUTH_TARGET_LENGTH = 4096;

/** Route templates of the authorization endpoint, as {@link endpointTemplate} returns them. */
const AUTHORIZATION_TEMPLATES = new Set([ROUTES.authorization, `${ROUTES.authorization}/:uid`]);

/**
 * Returns true for the sign-in steps: the authorization endpoint and the
 * pages behind it. oidc-provider routes `/oauth/Authorize/` like
 * `/oauth/authorize`, so its requests are matched the way its router does.
 */
function isSignInStep(route: string | undefined, url: string): boolean {
  if (route === undefined) {
    return false;
  }
  if (route.startsWith('/interaction/') || route === '/register') {
    return true;
  }
  const queryStart = url.indexOf('?');
  const template = endpointTemplate(queryStart === -1 ? url : url.slice(0, queryStart));
  return template !== undefined && AUTHORIZATION_TEMPLATES.has(template);
}

/**
 * Builds the onRequest hook that applies, before anything else runs: the
 * per-address limit on every request, the sign-in limit on the
 * authorization endpoint and the pages behind it, and the registration
 * limit on account creation.
 */
export function requestLimitsHook(config: Readonly<PortcullisConfig>, limiter: RateLimiter) {
  const { ipv6PrefixLength } = config.rateLimit;
  const globalLimit = compileCheck(config.rateLimit.global, 'rate', 'all');
  const signInLimit = compileCheck(config.rateLimit.signIn, 'rate', 'sign-in');
  const registrationQuota = compileCheck(config.rateLimit.registration, 'quota', 'POST /register');

  return callbackHook((request: FastifyRequest, reply: FastifyReply) => {
    if (request.url.startsWith('/oauth/') && request.url.length > MAX_OAUTH_TARGET_LENGTH) {
      throw new ProblemError('uri_too_long', `The request target is longer than ${MAX_OAUTH_TARGET_LENGTH} characters.`);
    }

    const context = { request, ipv6PrefixLength };
    const route = request.routeOptions.url;
    const checks: Array<LimitCheck | undefined> = [globalLimit(context)];

    if (isSignInStep(route, request.url)) {
      checks.push(signInLimit(context));
    }
    if (request.method === 'POST' && route === '/register') {
      checks.push(registrationQuota(context));
    }

    return enforceLimits(request, reply, limiter, checks.filter((check): check is LimitCheck => check !== undefined));
  });
}
