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
 * Maximum length of an authorization request on the OAuth endpoints: of the
 * request target, in characters, and of a pushed request's body, in bytes.
 * Every authorization request is stored until it expires, so an oversized
 * `state` or other parameter would let anonymous callers fill the store.
 */
export const MAX_OAUTH_TARGET_LENGTH = 4096;

/**
 * Largest request body that oidc-provider 9 reads, in bytes (`LIMIT` in its
 * lib/shared/selective_body.js). A larger one gets its 400 `invalid_request`
 * "failed to parse the request body", which does not name the cause.
 */
const PROVIDER_BODY_LIMIT = 56 * 1024;

/** Route templates of the endpoints that start a sign-in, as {@link endpointTemplate} returns them. */
const AUTHORIZATION_TEMPLATES: ReadonlySet<string> = new Set([
  ROUTES.authorization,
  `${ROUTES.authorization}/:uid`,
  ROUTES.pushed_authorization_request,
]);

/**
 * Returns the route template of the oidc-provider endpoint that serves
 * `url`, or undefined. oidc-provider routes `/oauth/Authorize/` like
 * `/oauth/authorize`, so the path is matched the way its router does.
 */
function providerEndpoint(url: string): string | undefined {
  if (!url.startsWith('/oauth/')) {
    return undefined;
  }
  const queryStart = url.indexOf('?');
  return endpointTemplate(queryStart === -1 ? url : url.slice(0, queryStart));
}

/** Returns true for the sign-in steps: the authorization endpoints and the pages behind them. */
function isSignInStep(route: string | undefined, endpoint: string | undefined): boolean {
  if (route === undefined) {
    return false;
  }
  return route.startsWith('/interaction/') || route === '/register' || (endpoint !== undefined && AUTHORIZATION_TEMPLATES.has(endpoint));
}

/**
 * Rejects a pushed authorization request (RFC 9126) whose body could be
 * longer than an authorization request may be. The body is checked by its
 * declared length because oidc-provider reads the stream itself.
 */
function checkPushedRequestLength(request: FastifyRequest): void {
  const declared = request.headers['content-length'];
  if (declared === undefined || !(Number(declared) <= MAX_OAUTH_TARGET_LENGTH)) {
    throw new ProblemError(
      'payload_too_large',
      `A pushed authorization request must send a Content-Length header of at most ${MAX_OAUTH_TARGET_LENGTH} bytes.`,
    );
  }
}

/**
 * Rejects a request to an oidc-provider endpoint whose declared body is
 * larger than oidc-provider reads, before any of it is read.
 *
 * NOTE: a chunked body has no declared length, so one over the limit still
 * gets oidc-provider's 400 `invalid_request`.
 */
function checkProviderBodyLength(request: FastifyRequest): void {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > PROVIDER_BODY_LIMIT) {
    throw new ProblemError('payload_too_large', `The request body is larger than ${PROVIDER_BODY_LIMIT} bytes, the most that the OAuth endpoints accept.`);
  }
}

/**
 * Builds the onRequest hook that applies, before anything else runs: the
 * per-address limit on every request, the sign-in limit on the
 * authorization endpoints and the pages behind them, and the registration
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
    const endpoint = providerEndpoint(request.url);
    if (endpoint === ROUTES.pushed_authorization_request && request.method === 'POST') {
      checkPushedRequestLength(request);
    } else if (endpoint !== undefined) {
      checkProviderBodyLength(request);
    }

    const context = { request, ipv6PrefixLength };
    const route = request.routeOptions.url;
    const checks: Array<LimitCheck | undefined> = [globalLimit(context)];

    if (isSignInStep(route, endpoint)) {
      checks.push(signInLimit(context));
    }
    if (request.method === 'POST' && route === '/register') {
      checks.push(registrationQuota(context));
    }

    return enforceLimits(request, reply, limiter, checks.filter((check): check is LimitCheck => check !== undefined));
  });
}
