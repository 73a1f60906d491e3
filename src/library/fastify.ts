/**
 * Portcullis for Fastify services: a plugin that authenticates every route,
 * applies rate limits and each route's scopes and roles, and sends errors
 * as RFC 9457 problem details.
 */

import cors from '@fastify/cors';
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';

import type { Identity } from '../core/identity-headers.js';
import { securityHeaders, type SecurityHeaderOptions } from '../core/security-headers.js';
import { authorize } from '../gateway/authorize.js';
import { missingCallerProblem } from './authenticator.js';
import { callbackHook } from '../http/hooks.js';
import { rejectIncompletePreflight } from '../http/preflight.js';
import { installProblemHandlers, sendProblem } from '../http/problems.js';
import { corsOptions, type CorsSettings } from './cors.js';
import { routeScope } from './rate-limit.js';
import { RequestGuard, validateRouteAccess, type GuardSettings, type RouteAccess } from './request-guard.js';

export { createHttpApp, type HttpAppOptions } from '../http/create-app.js';
export { sendFrameworkError } from '../http/problems.js';
export { createLogger, type Logger } from '../http/logger.js';
export type { RouteAccess } from './request-guard.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller, set by the Portcullis plugin before the route's handler runs. */
    identity?: Identity;
  }

  interface FastifyContextConfig {
    /** The route's requirements of its caller. Without it, the route requires an authenticated caller. */
    portcullis?: RouteAccess;
  }
}

export interface PortcullisFastifyOptions extends GuardSettings {
  /** Security headers on every response; `false` turns them off. Default `{ https: false }`, which leaves out HSTS. */
  securityHeaders?: SecurityHeaderOptions | false;
  /** CORS for browser callers, through `@fastify/cors`. Default: no CORS headers. */
  cors?: CorsSettings;
  /** Sends every error and unknown route as a problem document. Default true. */
  problemHandlers?: boolean;
}

async function portcullisPlugin(app: FastifyInstance, options: PortcullisFastifyOptions): Promise<void> {
  const guard = new RequestGuard(options, app.log);

  if (options.securityHeaders !== false) {
    const headers = securityHeaders(options.securityHeaders ?? { https: false });
    app.addHook('onRequest', async (_request, reply) => {
      reply.headers(headers);
    });
  }

  // A route keeps the error handler set when it is added, so these go in
  // before the CORS plugin adds its OPTIONS route.
  if (options.problemHandlers ?? true) {
    installProblemHandlers(app);
  }

  if (options.cors !== undefined) {
    // Added before the CORS plugin, so this hook runs before its own.
    app.addHook('onRequest', callbackHook(rejectIncompletePreflight));
    await app.register(cors, corsOptions(options.cors));
  }

  app.addHook('onRoute', (route) => {
    guard.validateAccess(route.config?.portcullis ?? {});
  });

  // Authentication runs before the body is parsed, so an anonymous caller
  // learns nothing from validation errors, and unknown paths are guarded too.
  app.addHook('onRequest', async (request, reply) => {
    const access = request.routeOptions.config.portcullis ?? {};
    if (access.public === true) {
      const problem = guard.checkPublic(request);
      return problem === undefined ? undefined : sendProblem(reply, problem);
    }

    const scope = routeScope(request.method, request.routeOptions.url ?? '(unknown route)');
    const result = await guard.check(request, access, scope);
    reply.headers(result.headers);
    if (!result.allowed) {
      return sendProblem(reply, result.problem);
    }

    request.identity = result.authentication.identity;
    return undefined;
  });
}

// Fastify reads this symbol, as the fastify-plugin package sets it, to apply
// the plugin's hooks to the routes of the app that registers it.
Object.defineProperty(portcullisPlugin, Symbol.for('skip-override'), { value: true });

/** The Portcullis plugin; register it before the routes it protects. */
export const portcullis: FastifyPluginAsync<PortcullisFastifyOptions> = portcullisPlugin;

/**
 * Creates an onRequest hook that checks the caller's scopes and roles, for
 * routes that take hooks rather than `config.portcullis`. It runs after the
 * plugin has authenticated the caller.
 */
export function requireAccess(access: Pick<RouteAccess, 'scopes' | 'roles'>): (request: FastifyRequest) => Promise<void> {
  validateRouteAccess(access);
  return async (request) => {
    authorize(identityOf(request), { scopes: access.scopes ?? [], roles: access.roles ?? [] });
  };
}

/** Returns the authenticated caller of a request, or throws 401 on a public route. */
export function identityOf(request: FastifyRequest): Identity {
  if (request.identity === undefined) {
    throw missingCallerProblem();
  }
  return request.identity;
}
