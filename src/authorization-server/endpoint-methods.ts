import type { KoaContextWithOIDC } from 'oidc-provider';

import { PROBLEM_CONTENT_TYPE, ProblemError, toProblemDocument } from '../core/problem.js';
import { methodNotAllowed, routeNotFound } from '../http/problems.js';
import { DISCOVERY_PATHS, ROUTES } from './provider-routes.js';

const READ = ['GET', 'HEAD'];
const READ_WITH_CORS = ['GET', 'HEAD', 'OPTIONS'];
const SUBMIT_WITH_CORS = ['OPTIONS', 'POST'];

/**
 * Methods that oidc-provider 9.13 routes on each endpoint with Portcullis's
 * configuration, as its router setup (lib/helpers/initialize_app.js)
 * registers them. Its router serves HEAD wherever it serves GET, and OPTIONS
 * only on endpoints that allow CORS. The authorization and end-session
 * endpoints take no POST because `enableHttpPostMethods` is off.
 */
export const ENDPOINT_METHODS: ReadonlyMap<string, readonly string[]> = new Map([
  [ROUTES.authorization, READ],
  [`${ROUTES.authorization}/:uid`, READ],
  [ROUTES.token, SUBMIT_WITH_CORS],
  [ROUTES.userinfo, ['GET', 'HEAD', 'OPTIONS', 'POST']],
  [ROUTES.revocation, SUBMIT_WITH_CORS],
  [ROUTES.introspection, SUBMIT_WITH_CORS],
  [ROUTES.pushed_authorization_request, SUBMIT_WITH_CORS],
  [ROUTES.jwks, READ_WITH_CORS],
  [ROUTES.end_session, READ],
  [`${ROUTES.end_session}/confirm`, ['POST']],
  [`${ROUTES.end_session}/success`, READ],
  ...DISCOVERY_PATHS.map((path) => [path, READ_WITH_CORS] as const),
]);

const UID_SEGMENT = '/:uid';

/** Folds ASCII letters only, as oidc-provider's router does for paths made of ASCII characters. */
function foldCase(path: string): string {
  return path.replace(/[A-Z]/g, (letter) => letter.toLowerCase());
}

function templateMatches(template: string, path: string): boolean {
  if (!template.endsWith(UID_SEGMENT)) {
    return template === path;
  }
  const prefix = `${template.slice(0, -UID_SEGMENT.length)}/`;
  const uid = path.slice(prefix.length);
  return path.startsWith(prefix) && uid !== '' && !uid.includes('/');
}

function findTemplate(path: string): string | undefined {
  for (const template of ENDPOINT_METHODS.keys()) {
    if (templateMatches(template, path)) {
      return template;
    }
  }
  return undefined;
}

/**
 * Returns the route template of the endpoint that oidc-provider serves on
 * `path`, such as `/oauth/authorize/:uid`, or undefined when no endpoint
 * has that path. Like oidc-provider's router, it ignores the case of ASCII
 * letters and one trailing slash.
 */
export function endpointTemplate(path: string): string | undefined {
  const folded = foldCase(path);
  const exact = findTemplate(folded);
  if (exact !== undefined || folded.length <= 1 || !folded.endsWith('/')) {
    return exact;
  }
  return findTemplate(folded.slice(0, -1));
}

/** Returns the methods served on `path`, or undefined when no endpoint has that path. */
export function allowedMethods(path: string): readonly string[] | undefined {
  const template = endpointTemplate(path);
  return template === undefined ? undefined : ENDPOINT_METHODS.get(template);
}

function sendProblem(ctx: KoaContextWithOIDC, problem: ProblemError): void {
  // The Fastify request id reaches this response as a header set before
  // the request was handed to oidc-provider.
  const requestId = ctx.response.get('x-request-id') || undefined;
  ctx.status = problem.status;
  ctx.body = JSON.stringify(toProblemDocument(problem, requestId));
  ctx.set(problem.headers);
  ctx.set('cache-control', 'no-store');
  ctx.set('content-type', PROBLEM_CONTENT_TYPE);
}

/** Tells whether oidc-provider's router matched the request, which defines `ctx.oidc` first thing. */
function isRouted(ctx: KoaContextWithOIDC): boolean {
  return (ctx as Partial<KoaContextWithOIDC>).oidc !== undefined;
}

/**
 * Replaces the bare 404 that oidc-provider leaves when its router matches
 * nothing. A known endpoint with a method it does not serve gets 405 with
 * `Allow` (RFC 9110 section 15.5.6), and an unknown path gets the 404 problem
 * document. An OPTIONS request that is not a CORS preflight gets 204 with
 * `Allow`. Every response that oidc-provider writes itself passes unchanged.
 */
export async function answerUnroutedRequests(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  await next();

  const hasBody = ctx.body !== undefined && ctx.body !== null;
  if (ctx.status !== 404 || hasBody) {
    return;
  }

  const allowed = allowedMethods(ctx.path);
  if (isRouted(ctx)) {
    if (ctx.method === 'OPTIONS' && allowed !== undefined) {
      ctx.status = 204;
      ctx.set('allow', allowed.join(', '));
    }
    return;
  }

  if (allowed === undefined) {
    sendProblem(ctx, routeNotFound(ctx.method, ctx.path));
  } else {
    sendProblem(ctx, methodNotAllowed(ctx.method, ctx.path, allowed));
  }
}
