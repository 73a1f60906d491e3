import cors from '@fastify/cors';
import type { FastifyInstance, FastifyRequest } from 'fastify';

import type { FlowQuota, LimitKeyPart, LimitRule, RouteLimits } from '../config/schema.js';
import type { TokenVerifier } from '../core/cache/token-cache.js';
import type { IdentityAssertionSigner } from '../core/identity-assertion.js';
import type { RateLimiter } from '../core/rate-limit/limiter.js';
import type { LimitCheck } from '../core/rate-limit/types.js';
import { callbackHook } from '../http/hooks.js';
import { rejectIncompletePreflight } from '../http/preflight.js';
import { compileCheck, enforceLimits, type CheckBuilder } from '../http/rate-limit.js';
import { andThen, type Pending } from '../core/pending.js';
import type { CredentialKind, Identity } from '../core/identity-headers.js';
import { redactPath } from '../core/log-redaction.js';
import { foreignPathCheck, siblingPathCheck } from '../core/openapi/route-path.js';
import { ProblemError } from '../core/problem.js';
import type { ApiKeyService } from '../api-keys/api-key-service.js';
import type { Account } from '../store/account-repository.js';
import { API_KEY_ROUTES, apiKeyRoutes } from './api-key-routes.js';
import { authenticate, rejectCredentialsInQuery, type AuthenticationDependencies } from './authenticate.js';
import { forward, requestHeaderFilter } from './forward.js';
import { createUpstreamPool } from './upstream-client.js';
import { UpstreamLinkRewriter } from './upstream-links.js';
import { UpstreamLoad } from './upstream-load.js';
import { CORS_ALLOWED_HEADERS, CORS_EXPOSED_HEADERS, CORS_METHODS } from './cors.js';
import { checkLifecycle, lifecycleHeaders } from './lifecycle.js';
import { checkRequest } from './request-checks.js';
import type { RoutePolicy } from './route-policy.js';
import { UpstreamPolicyError, type ForeignOperation } from './upstream-routes.js';

/** Options of the gateway plugin, which is registered with the mount path as its prefix. */
export interface GatewayOptions {
  /** Base URL of the upstream. */
  upstreamUrl: string;
  /** The URL at which callers reach Portcullis (the issuer), whose scheme and host the upstream receives as X-Forwarded-Proto and X-Forwarded-Host. */
  publicUrl: string;
  routes: readonly RoutePolicy[];
  verifier: TokenVerifier;
  isGrantActive: (grantId: string) => Pending<boolean>;
  isClientActive: (clientId: string) => Pending<boolean>;
  apiKeys: ApiKeyService;
  findAccount: (id: string) => Promise<Account | undefined>;
  /** How long a rotated API key keeps working by default, in seconds. */
  apiKeyGraceSeconds: number;
  /** Maximum number of active API keys a user may hold when creating one through the API. */
  maxActiveApiKeysPerOwner: number;
  /** Browser origins allowed to call the API. */
  corsOrigins: readonly string[];
  /** Maximum time to open a connection to the upstream, in milliseconds. */
  upstreamConnectTimeoutMs: number;
  /** Maximum wait for response headers, and then for a checked response body, in milliseconds. */
  upstreamTimeoutMs: number;
  /** Connections kept to the upstream. */
  upstreamConnections: number;
  /** Requests that may wait for an upstream connection while all are busy. */
  upstreamQueueLimit: number;
  /** Largest upstream response body read for checking, in bytes. */
  responseLimitBytes: number;
  /** Maximum time to relay a response body unchecked, from its first bytes to its end, in milliseconds. */
  relayTimeoutMs: number;
  bodyLimitBytes: number;
  rateLimits: GatewayRateLimits;
  /** Serve the API key management routes (`/keys`) under this mount path; one upstream of several does. */
  manageApiKeys: boolean;
  /** Signs the identity assertion sent upstream with every forwarded request, or undefined when the upstream takes none. */
  identitySigner: IdentityAssertionSigner | undefined;
  /** The upstream's name in the configuration, which each identity assertion carries in its `upstream` claim. */
  upstreamName: string;
  /** Request header names, or `prefix*` patterns, that never reach the upstream besides the gateway's own list. Default none. */
  dropRequestHeaders?: readonly string[];
  /** Operations of other upstreams on the same service, relative to this upstream's base path (see sharedServiceOperations). Default none. */
  foreignOperations?: readonly ForeignOperation[];
}

/** Per-route limits and business-flow quotas, charged after authentication. */
export interface GatewayRateLimits {
  limiter: RateLimiter;
  routes: readonly RouteLimits[];
  flows: readonly FlowQuota[];
  ipv6PrefixLength: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    identity?: Identity;
    /** The upstream path of a matched operation, built once before the request is checked. */
    upstreamPath?: string;
  }
}

/** How long a browser may cache a CORS preflight response, in seconds. */
const PREFLIGHT_MAX_AGE_SECONDS = 600;

/**
 * Registers the gateway, which authenticates every request under the mount
 * path, matches it against the declared operations, authorizes it and
 * forwards it upstream with identity headers.
 *
 * The pipeline, in order: CORS → route match → sunset check → authenticate
 * (skipped for public operations) → authorize → object-level bindings on
 * path and query → validate → bindings on the body → forward. Every step fails closed: an error in any of them ends
 * the request with a problem response, and nothing reaches the upstream.
 *
 * NOTE: BENCHMARKS.md puts the gateway at 0.5 to 0.8 of the requests/s
 * of a bare node:http proxy in recorded runs, short of its 0.85 target.
 * The identity assertion and the response check cost 20 to 40 µs of CPU
 * time per request each, the largest shares. Without both, the gateway
 * served 0.86 to 1.03 times that proxy's requests/s in the last three runs.
 */
export async function gateway(app: FastifyInstance, options: GatewayOptions): Promise<void> {
  const upstream = new URL(options.upstreamUrl);
  const upstreamPrefix = upstream.pathname.replace(/\/+$/, '');
  const publicUrl = new URL(options.publicUrl);
  const allowedOrigins = new Set(options.corsOrigins);

  // Registered before the CORS plugin, so this hook runs before its own.
  app.addHook('onRequest', callbackHook(rejectIncompletePreflight));
  await app.register(cors, {
    origin: (origin, callback) => {
      callback(null, origin !== undefined && allowedOrigins.has(origin));
    },
    methods: CORS_METHODS,
    allowedHeaders: CORS_ALLOWED_HEADERS,
    exposedHeaders: CORS_EXPOSED_HEADERS,
    credentials: false,
    maxAge: PREFLIGHT_MAX_AGE_SECONDS,
    strictPreflight: true,
  });

  const pool = createUpstreamPool({
    url: options.upstreamUrl,
    connections: options.upstreamConnections,
    connectTimeoutMs: options.upstreamConnectTimeoutMs,
    timeoutMs: options.upstreamTimeoutMs,
  });
  app.addHook('onClose', async () => {
    await pool.close();
  });

  // The body goes to the upstream byte for byte; the upstream parses it.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: options.bodyLimitBytes }, (_request, body, done) => {
    done(null, body);
  });

  const forwardOptions = {
    upstream: pool,
    upstreamLoad: new UpstreamLoad({ connections: options.upstreamConnections, queueLimit: options.upstreamQueueLimit }),
    upstreamTimeoutMs: options.upstreamTimeoutMs,
    upstreamHost: upstream.host,
    upstreamPrefix,
    forwardedHost: publicUrl.host,
    forwardedProto: publicUrl.protocol.slice(0, -1),
    responseCheck: {
      limitBytes: options.responseLimitBytes,
      timeoutMs: options.upstreamTimeoutMs,
      relayTimeoutMs: options.relayTimeoutMs,
    },
    identitySigner: options.identitySigner,
    upstreamName: options.upstreamName,
    droppedRequestHeaders: requestHeaderFilter(options.dropRequestHeaders),
    links: new UpstreamLinkRewriter(upstream, publicUrl.origin, app.prefix),
  };

  const authenticationDependencies: AuthenticationDependencies = {
    verifier: options.verifier,
    isGrantActive: options.isGrantActive,
    isClientActive: options.isClientActive,
    apiKeys: options.apiKeys,
  };

  if (options.manageApiKeys) {
    await app.register(apiKeyRoutes, {
      authentication: authenticationDependencies,
      apiKeys: options.apiKeys,
      findAccount: options.findAccount,
      defaultGraceSeconds: options.apiKeyGraceSeconds,
      maxActiveKeysPerOwner: options.maxActiveApiKeysPerOwner,
    });
  }

  for (const policy of options.routes) {
    const scope = `${policy.method} ${app.prefix}${policy.path}`;
    const siblings = options.routes.filter((other) => other.method === policy.method).map((other) => other.route);
    const foreign = (options.foreignOperations ?? []).filter((operation) => operation.method === policy.method).map((operation) => operation.route);
    const spellsSibling = eitherCheck(siblingPathCheck(policy.route, siblings), foreignPathCheck(policy.route, foreign));
    const lifecycle = lifecycleHeaders(policy.lifecycle);
    const rules = rulesOf(policy, options.rateLimits, scope);
    app.route({
      method: policy.method,
      url: policy.path,
      // The path `/` names the mount path with a slash (`/api/`). Fastify's
      // default would serve it at `/api` too.
      prefixTrailingSlash: 'slash',
      // A retired operation is rejected before authentication, because its
      // sunset is public knowledge and the upstream must not be called at all.
      onRequest: callbackHook((request, reply) => {
        reply.headers(checkLifecycle(policy.lifecycle, lifecycle, new Date()));
        // A public operation reads no credential, but one sent in its query
        // string would still reach the upstream's logs.
        if (policy.public) {
          rejectCredentialsInQuery(request);
          return;
        }
        return andThen(authenticate(request, authenticationDependencies, policy.credentials), (identity) => {
          request.identity = identity;
        });
      }),
      // Rate limits come first. Authorization runs before validation, so that
      // a caller without the operation's scopes learns nothing about its
      // schema from 400s. Quotas come last: only requests that may reach the
      // upstream use them up.
      preHandler: callbackHook((request, reply) => {
        const rated = enforceLimits(request, reply, options.rateLimits.limiter, limitChecks(request, rules.rate, options.rateLimits));
        return andThen(rated, () => {
          checkRequest(request, policy, spellsSibling);
          return enforceLimits(request, reply, options.rateLimits.limiter, limitChecks(request, rules.quota, options.rateLimits));
        });
      }),
      handler: (request, reply) => forward(request, reply, request.identity, policy, request.upstreamPath as string, forwardOptions),
    });
  }

  // Undeclared operations: authenticate first, so that an anonymous caller
  // cannot tell which paths exist from 404s. Fastify reads the body before
  // a not-found handler runs, so both checks are in an onRequest hook, which
  // responds before a caller that sent `Expect: 100-continue` is asked for
  // the body.
  app.addHook(
    'onRequest',
    callbackHook((request) => {
      if (!request.is404) {
        return;
      }
      return andThen(authenticate(request, authenticationDependencies, ['jwt', 'api_key']), (identity) => {
        request.identity = identity;
        rejectUndeclaredOperation(request);
      });
    }),
  );
  app.setNotFoundHandler(async (request) => rejectUndeclaredOperation(request));
}

type PathCheck = (values: Readonly<Record<string, string>>) => boolean;

/** Returns a check that is true when either of two checks is, or undefined when both are. */
function eitherCheck(first: PathCheck | undefined, second: PathCheck | undefined): PathCheck | undefined {
  if (first === undefined || second === undefined) {
    return first ?? second;
  }
  return (values) => first(values) || second(values);
}

function rejectUndeclaredOperation(request: FastifyRequest): never {
  throw new ProblemError('not_found', `No operation matches ${request.method} ${redactPath(request.url.split('?')[0] ?? '')}.`);
}

/** Returns a route path with each parameter name left out, as the router compares paths: `/keys/:` for `/keys/:keyId`. */
function routeShape(path: string): string {
  return path.replace(/:[A-Za-z0-9_]+/g, ':');
}

/**
 * Fails the start when an operation of the upstream at `mountPath` has the
 * method and path of an API key management route, which the gateway serves
 * under that mount path. The router would otherwise reject the second
 * route only after the store and the listeners were opened.
 */
export function checkApiKeyRoutes(upstreamName: string, mountPath: string, routes: readonly RoutePolicy[]): void {
  for (const policy of routes) {
    const reserved = Object.values(API_KEY_ROUTES).find((route) => route.method === policy.method && routeShape(route.url) === routeShape(policy.path));
    if (reserved !== undefined) {
      throw new UpstreamPolicyError(
        `upstream '${upstreamName}': ${policy.method} ${policy.route.template} is also the route ${reserved.method} ${mountPath}${reserved.url} of the API key management, ` +
          'which the gateway serves under the mount path of the first upstream; list another upstream first or mount this one at another path',
      );
    }
  }
}

/** Tells whether a limit targets the operation, named by its OpenAPI template (`/orders/{id}`) or its Fastify route (`/orders/:id`). */
function matches(target: { method: string; path: string }, policy: RoutePolicy): boolean {
  return target.method === policy.method && (target.path === policy.path || target.path === policy.route.template);
}

/**
 * Fails the start when a limit names an operation that no upstream declares,
 * which would never apply. `routes` are the operations of every upstream.
 *
 * NOTE: limits name an operation by method and path relative to the mount
 * path, so a limit applies to that operation in every upstream declaring it.
 */
export function checkLimitTargets(routes: readonly RoutePolicy[], limits: Pick<GatewayRateLimits, 'routes' | 'flows'>): void {
  const targets = [
    ...limits.routes.map((target, index) => ({ target, path: `rateLimit/routes/${index}` })),
    ...limits.flows.map((target, index) => ({ target, path: `rateLimit/flows/${index}` })),
  ];
  for (const { target, path } of targets) {
    if (!routes.some((policy) => matches(target, policy))) {
      throw new UpstreamPolicyError(
        `${path}: ${target.method} ${target.path} is not a declared operation of any upstream; declare it in the upstream's OpenAPI document or routes, or remove the limit`,
      );
    }
  }

  for (const policy of routes) {
    checkLimitNames(policy, limits);
  }
  checkLimitKeys(routes, limits);
}

/** Key parts of a request with each credential kind. Only access tokens carry an OAuth client, and only API keys an API key id. */
const CREDENTIAL_KEY_PARTS: Record<CredentialKind, ReadonlySet<LimitKeyPart>> = {
  jwt: new Set(['ip', 'sub', 'client_id']),
  api_key: new Set(['ip', 'sub', 'api_key']),
};

/** Returns the key parts of each kind of request an operation admits. A public operation reads no credential, so it has the address only. */
function keyPartSetsOf(policy: RoutePolicy): ReadonlySet<LimitKeyPart>[] {
  return policy.public ? [new Set(['ip'])] : policy.credentials.map((kind) => CREDENTIAL_KEY_PARTS[kind]);
}

/**
 * Fails the start when a limit is keyed by a part that no request of its
 * operations has. Examples are `sub` on a public operation, `api_key` on
 * one that accepts access tokens only, and `client_id` with `api_key`,
 * which no single credential carries. A rule applies only to requests
 * that have every part of its key, so such a limit would never apply.
 */
function checkLimitKeys(routes: readonly RoutePolicy[], limits: Pick<GatewayRateLimits, 'routes' | 'flows'>): void {
  const rules = [
    ...limits.routes.flatMap((target, index) => target.limits.map((rule, ruleIndex) => ({ target, rule, path: `rateLimit/routes/${index}/limits/${ruleIndex}` }))),
    ...limits.flows.map((target, index) => ({ target, rule: target, path: `rateLimit/flows/${index}` })),
  ];

  for (const { target, rule, path } of rules) {
    const partSets = routes.filter((policy) => matches(target, policy)).flatMap(keyPartSetsOf);
    if (partSets.some((parts) => rule.key.every((part) => parts.has(part)))) {
      continue;
    }

    const available = new Set(partSets.flatMap((parts) => [...parts]));
    const missing = rule.key.filter((part) => !available.has(part));
    throw new UpstreamPolicyError(
      `${path}: the limit '${rule.name}' is keyed by ${(missing.length > 0 ? missing : rule.key).join(' and ')}, which no request of ${target.method} ${target.path} has, ` +
        `so the limit would never apply. Key it by parts that these requests have: ${[...available].join(', ')}.`,
    );
  }
}

/**
 * Fails the start when two limits of one operation share a name. A counter
 * key is the consumer, the limit's name and the operation, so two such
 * limits would write one counter with different rates, and the last write
 * would decide both limits.
 */
function checkLimitNames(policy: RoutePolicy, limits: Pick<GatewayRateLimits, 'routes' | 'flows'>): void {
  const names = [
    ...limits.routes.filter((route) => matches(route, policy)).flatMap((route) => route.limits.map((rule) => rule.name)),
    ...limits.flows.filter((flow) => matches(flow, policy)).map((flow) => flow.name),
  ];
  const repeated = names.find((name, index) => names.indexOf(name) !== index);
  if (repeated !== undefined) {
    throw new UpstreamPolicyError(
      `rateLimit: two limits of ${policy.method} ${policy.path} are named '${repeated}', and each limit of an operation needs a name of its own because the name keys its counter; rename one of them`,
    );
  }
}

/** Prepares the checks of the route limits and the flow quotas of one operation, once at start. */
function rulesOf(policy: RoutePolicy, limits: GatewayRateLimits, scope: string): Record<LimitCheck['kind'], CheckBuilder[]> {
  const rate: LimitRule[] = limits.routes.filter((route) => matches(route, policy)).flatMap((route) => route.limits);
  const quota: LimitRule[] = limits.flows.filter((flow) => matches(flow, policy));
  return {
    rate: rate.map((rule) => compileCheck(rule, 'rate', scope)),
    quota: quota.map((rule) => compileCheck(rule, 'quota', scope)),
  };
}

function limitChecks(request: FastifyRequest, builders: readonly CheckBuilder[], limits: GatewayRateLimits): LimitCheck[] {
  if (builders.length === 0) {
    return [];
  }

  const context = { request, identity: request.identity, ipv6PrefixLength: limits.ipv6PrefixLength };
  const checks: LimitCheck[] = [];
  for (const build of builders) {
    const check = build(context);
    if (check !== undefined) {
      checks.push(check);
    }
  }
  return checks;
}
