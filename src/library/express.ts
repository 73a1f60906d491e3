/**
 * Portcullis for Express services: middleware that authenticates requests,
 * applies rate limits and route scopes and roles, and an error handler that
 * responds with RFC 9457 problem details.
 *
 * The types use Node's own request and response, so this module needs
 * neither Express nor its types; it works with Express 4 and 5.
 */

import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { Identity } from '../core/identity-headers.js';
import { clientErrorProblem } from '../core/client-error-status.js';
import { PROBLEM_CONTENT_TYPE, ProblemError, internalErrorDocument, toProblemDocument, type ProblemDocument } from '../core/problem.js';
import { securityHeaders as buildSecurityHeaders, type SecurityHeaderOptions } from '../core/security-headers.js';
import { authorize } from '../gateway/authorize.js';
import { missingCallerProblem } from './authenticator.js';
import { routeScope } from './rate-limit.js';
import { RequestGuard, type GuardSettings, type RouteAccess } from './request-guard.js';

export type { RouteAccess } from './request-guard.js';

/** An Express request, as far as this module reads it. */
export interface ExpressRequest extends IncomingMessage {
  /** Client address, which Express derives from its `trust proxy` setting. */
  ip?: string | undefined;
  /** The URL before any router stripped its mount path. */
  originalUrl?: string;
}

export type NextFunction = (error?: unknown) => void;
export type Middleware = (request: ExpressRequest, response: ServerResponse, next: NextFunction) => void;
export type ErrorMiddleware = (error: unknown, request: ExpressRequest, response: ServerResponse, next: NextFunction) => void;

/** Minimal logger; pino and console both fit. */
export interface MiddlewareLogger {
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

export interface PortcullisExpressOptions extends GuardSettings {
  /** Receives rejected credentials, failed background fetches of key sets and unexpected errors, never the credentials themselves. Default: no logging. */
  logger?: MiddlewareLogger;
}

interface RequestState {
  requestId: string;
  identity?: Identity;
  /** The guard that authenticated the request and charged its limits, so that it does neither twice. */
  checkedBy?: RequestGuard;
}

const STATES = new WeakMap<IncomingMessage, RequestState>();

const SILENT_LOGGER: MiddlewareLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

function stateOf(request: IncomingMessage): RequestState {
  let state = STATES.get(request);
  if (state === undefined) {
    state = { requestId: randomUUID() };
    STATES.set(request, state);
  }
  return state;
}

function parseQuery(target: string): Record<string, string | string[]> {
  // Without a prototype, a parameter named __proto__ is an own property
  // like any other, so the query-string credential check reads it.
  const query = Object.create(null) as Record<string, string | string[]>;
  const start = target.indexOf('?');
  if (start === -1) {
    return query;
  }

  for (const [name, value] of new URLSearchParams(target.slice(start + 1))) {
    const existing = query[name];
    query[name] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
  }
  return query;
}

function sendDocument(response: ServerResponse, status: number, document: ProblemDocument, headers: Record<string, string>): void {
  response.statusCode = status;
  for (const [name, value] of Object.entries(headers)) {
    response.setHeader(name, value);
  }
  response.setHeader('cache-control', 'no-store');
  response.setHeader('content-type', PROBLEM_CONTENT_TYPE);
  response.end(JSON.stringify(document));
}

/** Sends a problem response for `problem`. */
export function sendProblem(request: IncomingMessage, response: ServerResponse, problem: ProblemError): void {
  sendDocument(response, problem.status, toProblemDocument(problem, stateOf(request).requestId), problem.headers);
}

/** Creates middleware that authenticates every request and applies the service-wide rate limits. */
export function portcullis(options: PortcullisExpressOptions): Middleware & { requireAccess: (access: RouteAccess) => Middleware } {
  // Options missing from a JavaScript caller reach the guard, whose error names the settings to give.
  const logger = options?.logger ?? SILENT_LOGGER;
  const guard = new RequestGuard(options, logger);

  const run = (access: RouteAccess) => {
    guard.validateAccess(access);

    return (request: ExpressRequest, response: ServerResponse, next: NextFunction): void => {
      const state = stateOf(request);
      response.setHeader('x-request-id', state.requestId);
      // The same middleware may sit both on the app and on a router. Checking
      // again would reject the identity assertion it just accepted as a
      // replay, and charge the rate limits twice.
      if (state.checkedBy === guard) {
        next();
        return;
      }

      // The assertion binds the target the service received, before any router stripped a mount path.
      const url = request.originalUrl ?? request.url ?? '/';
      const credentialRequest = {
        method: request.method ?? 'GET',
        url,
        headers: request.headers,
        raw: request,
        query: parseQuery(url),
        ip: request.ip ?? request.socket.remoteAddress ?? '',
        log: logger,
      };
      const scope = `${credentialRequest.method} ${url.split('?')[0]}`;

      guard
        .check(credentialRequest, access, scope)
        .then((result) => {
          // Another middleware, such as a timeout, may have sent a response
          // while the check waited for keys, the store or Redis.
          if (response.headersSent) {
            logger.info({ requestId: state.requestId }, 'response already sent before the credential check finished; result dropped');
            return;
          }
          for (const [name, value] of Object.entries(result.headers)) {
            response.setHeader(name, value);
          }
          if (!result.allowed) {
            sendProblem(request, response, result.problem);
            return;
          }

          state.identity = result.authentication.identity;
          state.checkedBy = guard;
          next();
        })
        .catch(next);
    };
  };

  const middleware = run({}) as Middleware & { requireAccess: (access: RouteAccess) => Middleware };
  middleware.requireAccess = (access) => {
    guard.validateAccess(access);
    return requireAccess(guard, access, logger);
  };
  return middleware;
}

/**
 * Returns the method, mount path and route pattern of a request, so that
 * path spellings cannot open a second counter. `baseUrl` is the mount path
 * as the request spelled it, and Express matches it without regard to case
 * unless its `caseSensitive` option is set, so it is lower-cased. With
 * that option set, `/V1` and `/v1` mounts share counters, which errs on
 * the side of the limit. A middleware mounted with `app.use(path, …)` has
 * no route, and its mount path is its scope.
 *
 * NOTE: a mount path with parameters (`/tenants/:id`) still keys each value apart.
 */
function routeTemplate(request: ExpressRequest): string {
  const { baseUrl, route } = request as ExpressRequest & { baseUrl?: string; route?: { path?: unknown } };
  return routeScope(request.method ?? 'GET', `${(baseUrl ?? '').toLowerCase()}${routePattern(route?.path)}`);
}

/** Returns the text of a route's path pattern: a string, a regular expression or a list of these. */
function routePattern(path: unknown): string {
  if (typeof path === 'string') {
    return path;
  }
  if (path instanceof RegExp) {
    return String(path);
  }
  if (Array.isArray(path)) {
    return `[${path.map(routePattern).join(', ')}]`;
  }
  return '';
}

function requireAccess(guard: RequestGuard, access: RouteAccess, logger: MiddlewareLogger): Middleware {
  if (access.public === true) {
    return publicAccess(guard);
  }

  return (request, response, next) => {
    const identity = STATES.get(request)?.identity;
    if (identity === undefined) {
      sendProblem(request, response, missingCallerProblem());
      return;
    }

    const address = request.ip ?? request.socket.remoteAddress ?? '';
    guard.chargeRouteLimits({ ip: address, log: logger }, identity, access, routeTemplate(request)).then(
      ({ headers, problem }) => {
        // The service-wide limits already set these fields; the route's policies join them.
        for (const [name, value] of Object.entries(headers)) {
          const existing = response.getHeader(name);
          response.setHeader(name, existing === undefined ? value : `${String(existing)}, ${value}`);
        }
        if (problem !== undefined) {
          sendProblem(request, response, problem);
          return;
        }

        authorize(identity, { scopes: access.scopes ?? [], roles: access.roles ?? [] });
        next();
      },
    ).catch(next);
  };
}

/**
 * Creates middleware for a public route, declared before the Portcullis
 * middleware so that no credential is required. It rejects credentials in
 * the query string with 400 and passes every other request on.
 */
function publicAccess(guard: RequestGuard): Middleware {
  return (request, response, next) => {
    const problem = guard.checkPublic({ query: parseQuery(request.originalUrl ?? request.url ?? '/') });
    if (problem !== undefined) {
      sendProblem(request, response, problem);
      return;
    }
    next();
  };
}

/** Returns the authenticated caller of a request, or throws 401 when no Portcullis middleware ran. */
export function identityOf(request: IncomingMessage): Identity {
  const identity = STATES.get(request)?.identity;
  if (identity === undefined) {
    throw missingCallerProblem();
  }
  return identity;
}

/** Creates middleware that sets the security headers on every response. */
export function securityHeaders(options: SecurityHeaderOptions = { https: false }): Middleware {
  const headers = buildSecurityHeaders(options);
  return (_request, response, next) => {
    for (const [name, value] of Object.entries(headers)) {
      response.setHeader(name, value);
    }
    next();
  };
}

/**
 * Creates error middleware that sends a ProblemError as its problem document,
 * and anything else as a 500 that carries only the request id. Register
 * it after the routes.
 */
export function problemHandler(logger: MiddlewareLogger = SILENT_LOGGER): ErrorMiddleware {
  return (error, request, response, next) => {
    if (response.headersSent) {
      next(error);
      return;
    }

    const problem = error instanceof ProblemError ? error : clientErrorProblem(error);
    if (problem !== undefined) {
      sendProblem(request, response, problem);
      return;
    }

    const requestId = stateOf(request).requestId;
    logger.error({ err: error, requestId }, 'request failed');
    sendDocument(response, 500, internalErrorDocument(requestId), {});
  };
}
