import type { AddressInfo } from 'node:net';
import type { DestinationStream } from 'pino';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type Provider from 'oidc-provider';

import { AccountService } from '../accounts/account-service.js';
import { ApiKeyService } from '../api-keys/api-key-service.js';
import { KeyedHash } from '../core/keyed-hash.js';
import { parseDuration } from '../core/duration.js';
import { authorizationServer } from '../authorization-server/server.js';
import { createProvider } from '../authorization-server/provider.js';
import type { PortcullisConfig, UpstreamConfig } from '../config/schema.js';
import { IdentityAssertionSigner } from '../core/identity-assertion.js';
import { libsodiumFailure } from '../core/ed25519.js';
import { deriveKey } from '../core/secret-box.js';
import { DEMO_CALLBACK_PATH, demoCallback } from '../demo/callback.js';
import type { OrderImportOptions } from '../demo/order-import.js';
import { createOrdersApi } from '../demo/orders-api.js';
import { checkApiKeyRoutes, checkLimitTargets, gateway } from '../gateway/gateway.js';
import type { RoutePolicy } from '../gateway/route-policy.js';
import { sharedServiceOperations, upstreamRoutes } from '../gateway/upstream-routes.js';
import { createHttpApp } from '../http/create-app.js';
import { GracefulShutdown } from '../http/graceful-shutdown.js';
import { createLogger, type Logger } from '../http/logger.js';
import { KeyRing, signingKidsByAlgorithm } from '../keys/key-ring.js';
import { isPostgres, openDatabase, withSetupLock } from '../store/database.js';
import { createOidcAdapterFactory } from '../store/oidc-adapters.js';
import { connectRedis, type RedisClient } from '../backends/redis.js';
import { redactUrl } from '../backends/backend-error.js';
import { FailureReporter } from '../backends/failure-reporter.js';
import { healthRoutes, type ReadinessCheck } from './health.js';
import { RevocationBus } from '../backends/revocation-bus.js';
import { sql } from 'kysely';
import { deleteExpiredPayloads, isGrantActive } from '../store/grant-queries.js';
import type { Database } from '../store/schema.js';
import { createRepositories } from '../store/repositories.js';
import { loadServerSecret, reportingSecretMismatch, serverSecretPath } from '../store/server-secret.js';
import { bootstrap, type BootstrapResult } from './bootstrap.js';
import { apiKeyLookupCacheOptions, createCredentialChecks } from './credential-checks.js';
import { createRateLimiting, type RateLimiting } from './rate-limiting.js';
import { requestLimitsHook } from './request-limits.js';
import { CORS_EXPOSED_HEADERS } from '../gateway/cors.js';
import { earlyCorsHeaders } from '../http/early-cors.js';
import { PROVIDER_CORS_PATHS, PROVIDER_EARLY_EXPOSED_HEADERS } from '../authorization-server/provider-routes.js';
import { startObservability, type Observability } from './observability.js';
import { checkCanListen, mainListener, metricsListener, reportingListenError } from './listen-check.js';
import { ResourceStack } from './resource-stack.js';

export interface StartOptions {
  /** Destination of the JSON log lines; standard output by default. */
  logDestination?: DestinationStream;
  /** Receives what the first start created, including the one-time admin password. */
  onBootstrap?: (result: BootstrapResult) => void;
  /** Outbound policy and collaborators of the demo Orders API's URL import; tests replace the resolver. */
  demoOrderImport?: OrderImportOptions;
}

/** A running Portcullis process. */
export interface RunningPortcullis {
  url: string;
  config: Readonly<PortcullisConfig>;
  app: FastifyInstance;
  db: Kysely<Database>;
  logger: Logger;
  keyRing: KeyRing;
  rateLimiting: RateLimiting;
  observability: Observability;
  /**
   * Stops listening, lets running requests finish for up to
   * `shutdownTimeoutMs`, responds to the rest with 503, then closes the backends.
   */
  close(): Promise<ShutdownReport>;
  /** Responds to every running request with 503 at once, for a second stop signal during `close`. */
  endRequests(): void;
}

/** The outcome of `close`. */
export interface ShutdownReport {
  /** Number of requests that did not finish in time and got a 503 or lost their connection. */
  endedRequests: number;
}

/** Path of the JWK Set with the public key of the gateway's identity assertions. */
export const IDENTITY_JWKS_PATH = '/.well-known/portcullis-identity-jwks.json';

/** How often the key ring looks for keys rotated by the CLI, in milliseconds. */
const KEY_POLL_INTERVAL_MS = 2000;
/** How long a rotated-in signing key is published before it signs, in milliseconds: two polls and a margin. */
const SIGNING_DELAY_MS = 2 * KEY_POLL_INTERVAL_MS + 1000;
/** How often expired codes, tokens and sessions are deleted, in milliseconds. */
const CLEANUP_INTERVAL_MS = 10 * 60 * 1000;

/** The logger, the resource stack and the checked upstreams, which a start prepares before it opens any resource. */
interface StartPlan {
  logger: Logger;
  resources: ResourceStack;
  /** The upstreams this instance serves: every one with a URL, and the rest when the demo is on. */
  served: UpstreamConfig[];
  /** Route policies of each served upstream, at the same index as in `served`. */
  routes: RoutePolicy[][];
}

/**
 * Starts Portcullis: the authorization server and the gateway on one listener,
 * and the demo Orders API on a loopback port as the default upstream.
 *
 * A start that fails closes what it had opened, newest first, and throws the
 * error of the step that failed. A failure to close one of them is logged.
 */
export async function startPortcullis(config: Readonly<PortcullisConfig>, options: StartOptions = {}): Promise<RunningPortcullis> {
  // Upstream documents and policies are checked before anything opens, so
  // that an unenforceable policy stops the start without leaving state behind.
  const served = config.gateway.upstreams.filter((upstream) => upstream.url !== null || config.demo);
  const warnings: Array<{ upstream: string; warning: string }> = [];
  const collectWarnings = (upstream: UpstreamConfig) => (warning: string) => warnings.push({ upstream: upstream.name, warning });
  const routes = (await Promise.all(served.map((upstream) => upstreamRoutes(upstream, { validateRequests: config.gateway.validateRequests, onWarning: collectWarnings(upstream) })))).map((policies) =>
    config.gateway.validateRequests ? policies : policies.map((policy) => ({ ...policy, validate: undefined })),
  );
  checkLimitTargets(routes.flat(), config.rateLimit);
  if (served[0] !== undefined) {
    checkApiKeyRoutes(served[0].name, served[0].mountPath, routes[0] ?? []);
  }

  // A port in use stops the start before the first start creates the admin
  // account, so that no password is printed for an instance that never ran.
  await checkCanListen(mainListener(config));
  if (config.metrics.enabled) {
    await checkCanListen(metricsListener(config));
  }

  const logger = createLogger(config.logLevel, options.logDestination);
  for (const { upstream, warning } of warnings) {
    logger.warn({ upstream, warning }, 'the OpenAPI document has a part the gateway does not check');
  }
  const resources = new ResourceStack(logger);
  try {
    return await openAndListen(config, options, { logger, resources, served, routes });
  } catch (error) {
    await resources.closeAll();
    throw error;
  }
}

/** Opens the backends and listeners of a start, adding each to `plan.resources` as soon as it exists. */
async function openAndListen(config: Readonly<PortcullisConfig>, options: StartOptions, plan: StartPlan): Promise<RunningPortcullis> {
  const { logger, resources, served, routes } = plan;
  const db = await openDatabase(config.database, {
    onConnectionError: (error) => logger.error({ err: error }, 'PostgreSQL connection failed; the pool opens a new one when needed'),
  });
  resources.defer('database', () => db.destroy());
  const redis = await openSharedRedis(config, logger);
  if (redis !== null) {
    resources.defer('Redis connection', () => redis.disconnect());
  }
  const serverSecret = loadServerSecret(config.dataDir);
  const observability = await startObservability(config, db, logger, resources);

  const { accounts, apiKeys: apiKeyRepository, clients, signingKeys: signingKeyRepository } = createRepositories(db, serverSecret);
  const accountService = new AccountService(accounts);
  const apiKeys = new ApiKeyService(
    apiKeyRepository,
    accounts,
    new KeyedHash(deriveKey(serverSecret, 'api key hashes')),
    (error) => logger.error({ err: error }, 'recording API key use failed'),
    apiKeyLookupCacheOptions(config),
  );
  // Steps run newest first, so the last uses of the final requests are written before the database closes.
  resources.defer('API key last-use records', () => apiKeys.flushLastUse());

  // Bootstrap and the first key load are where stored values are first
  // unsealed, so a server secret that does not belong to this database
  // stops the start there.
  const secretPath = serverSecretPath(config.dataDir);
  const created = await reportingSecretMismatch(secretPath, config.database, () =>
    withSetupLock(db, () =>
      bootstrap({
        accounts,
        accountService,
        clients,
        signingKeys: signingKeyRepository,
        demoRedirectUri: `${config.issuer}${DEMO_CALLBACK_PATH}`,
      }),
    ),
  );
  if (created.admin !== undefined) {
    const adminId = created.admin.id;
    observability.audit.record({ type: 'account.created', outcome: 'success', actor: adminId, reason: 'bootstrap', detail: `account ${adminId} with roles admin` });
  }
  if (created.signingKeysCreated.length > 0) {
    logger.info({ algorithms: created.signingKeysCreated }, 'signing keys created');
  }
  options.onBootstrap?.(created);

  // The poll runs every 2 seconds, so an outage is logged once, not per poll.
  const keyRefreshFailures = new FailureReporter(logger, 'signing key refresh failed');
  const keyRing = new KeyRing(signingKeyRepository, {
    // A retired key may still sign during the delay, which counts from the
    // second after the rotation, so its tokens outlive its retirement by that much.
    retentionSeconds: Math.max(config.tokens.accessToken, config.tokens.idToken) + config.gateway.clockToleranceSeconds + Math.ceil(SIGNING_DELAY_MS / 1000) + 1,
    pollIntervalMs: KEY_POLL_INTERVAL_MS,
    signingDelayMs: SIGNING_DELAY_MS,
    onError: (error) => keyRefreshFailures.failed(error),
    onSuccess: () => keyRefreshFailures.succeeded(),
  });
  // A refresh can schedule the promotion of a new key, so the ring is stopped even if it never polled.
  resources.defer('signing key polls', () => keyRing.stop());
  await reportingSecretMismatch(secretPath, config.database, () => keyRing.refresh());

  const providerDependencies = {
    config,
    db,
    accounts,
    clients,
    cookieKeys: [deriveKey(serverSecret, 'oidc cookies').toString('base64url')],
    logger,
    adapter: createOidcAdapterFactory(db, clients, redis, (grantId) => void revocations.publish({ kind: 'grant', id: grantId })),
    audit: observability.audit,
  };
  const credentialChecks = createCredentialChecks(config, keyRing, {
    isGrantActive: (grantId) => isGrantActive(db, grantId),
    isClientActive: (clientId) => clients.exists(clientId),
  });
  // Revocations on other instances reach this instance's cache over Redis.
  const revocations = new RevocationBus(
    (revocation) => (revocation.kind === 'grant' ? credentialChecks.grantRevoked(revocation.id) : apiKeys.forgetKey(revocation.id)),
    redis,
    logger,
    config.redisKeyPrefix,
  );
  apiKeys.announceEndedKeys((keyId) => void revocations.publish({ kind: 'apiKey', id: keyId }));
  // A subscriber that never became ready still reconnects until it is closed.
  resources.defer('revocation subscriber', () => revocations.close());
  await revocations.start();
  const newProvider = (signingKeys: typeof keyRing.keys) => {
    const created = createProvider({ ...providerDependencies, signingKeys });
    created.on('grant.revoked', (_context: unknown, grantId: string) => credentialChecks.grantRevoked(grantId));
    return created;
  };
  let provider: Provider = newProvider(keyRing.keys);
  keyRing.on('change', (keys) => {
    provider = newProvider(keys);
    logger.info({ kids: keys.map((key) => key.kid), signingKids: signingKidsByAlgorithm(keys) }, 'signing keys changed');
  });
  keyRing.start();

  // Derived from the server secret, so every instance that shares the data
  // directory signs with the same key and the key survives restarts.
  const identitySeed = deriveKey(serverSecret, 'identity assertion key');
  let identitySigner: IdentityAssertionSigner;
  try {
    identitySigner = new IdentityAssertionSigner({ seed: identitySeed, issuer: config.issuer, audience: config.audience });
  } finally {
    identitySeed.fill(0);
  }
  if (identitySigner.implementation === 'node:crypto' && served.some((upstream) => upstream.identityAssertion)) {
    logger.warn(
      { err: libsodiumFailure() },
      'libsodium is not available, so identity assertions are signed with node:crypto, about twice as slowly. Reinstall sodium-native to sign with libsodium.',
    );
  }

  // One demo Orders API serves every upstream configured without a URL. It
  // accepts only assertions signed for its upstream when it serves just one.
  const demoUpstreams = served.filter((upstream) => upstream.url === null);
  const demoUpstream = demoUpstreams[0];
  const demoUpstreamName = demoUpstreams.length === 1 ? demoUpstream?.name : undefined;
  const demo =
    demoUpstream !== undefined
      ? createOrdersApi({
          logger: logger.child({ component: 'demo-orders-api' }),
          publicPrefix: demoUpstream.mountPath,
          identityAssertion: { issuer: config.issuer, audience: config.audience, jwks: await identitySigner.publicJwks(), upstream: demoUpstreamName },
          orderImport: options.demoOrderImport,
        })
      : undefined;
  let demoUrl: string | undefined;
  if (demo !== undefined) {
    resources.defer('demo Orders API', () => demo.close());
    await demo.listen({ host: '127.0.0.1', port: 0 });
    demoUrl = `http://127.0.0.1:${(demo.server.address() as AddressInfo).port}`;
  }
  // A served upstream without a URL is the demo, which has started by now.
  const upstreams = served.map((upstream) => ({ ...upstream, url: upstream.url ?? (demoUrl as string) }));

  // Opened before the app, so that it closes after the app's running requests have finished.
  const rateLimiting = await createRateLimiting(config, logger);
  resources.defer('rate-limit store', () => rateLimiting.close());

  const shutdown = new GracefulShutdown();
  const app = createHttpApp({
    logger,
    bodyLimit: config.bodyLimitBytes,
    maxHeaderSize: config.headerLimitBytes,
    requestTimeoutMs: config.requestTimeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
    https: config.issuer.startsWith('https:'),
    trustedProxies: config.rateLimit.trustedProxies,
    corsHeaders: earlyCorsHeaders(config.corsOrigins, [
      { paths: upstreams.map((upstream) => upstream.mountPath), exposedHeaders: CORS_EXPOSED_HEADERS },
      { paths: PROVIDER_CORS_PATHS, exposedHeaders: PROVIDER_EARLY_EXPOSED_HEADERS },
    ]),
    shutdown,
  });
  resources.defer('HTTP server', () => finishRequests(shutdown, config, logger));

  // The metrics hook goes first, so that it also counts the responses that
  // the per-address limit sends from its own onRequest hook.
  observability.install(app, rateLimiting.limiter);
  const { ipv6PrefixLength } = config.rateLimit;
  app.addHook('onRequest', requestLimitsHook(config, rateLimiting.limiter));

  await app.register(authorizationServer, {
    provider: () => provider,
    issuer: config.issuer,
    accountService,
    accounts,
    cookieSecret: deriveKey(serverSecret, 'csrf cookies').toString('base64url'),
    secureCookies: config.issuer.startsWith('https:'),
    corsOrigins: config.corsOrigins,
    clientSecrets: {
      providerSecret: (clientId, secret) => clients.providerSecret(clientId, secret),
    },
    loginThrottle: rateLimiting.loginThrottle,
    clientAuthThrottle: rateLimiting.clientAuthThrottle,
    registrationEnabled: config.registration.enabled,
    ipv6PrefixLength,
  });

  if (upstreams.length > 0) {
    const foreignOperations = sharedServiceOperations(upstreams.map((upstream) => upstream.url), routes);
    for (const [index, upstream] of upstreams.entries()) {
      await app.register(gateway, {
        prefix: upstream.mountPath,
        upstreamUrl: upstream.url,
        publicUrl: config.issuer,
        routes: routes[index] ?? [],
        foreignOperations: foreignOperations[index] ?? [],
        verifier: credentialChecks.verifier,
        isGrantActive: credentialChecks.isGrantActive,
        isClientActive: credentialChecks.isClientActive,
        apiKeys,
        findAccount: (id) => accounts.findById(id),
        apiKeyGraceSeconds: config.apiKeys.rotationGrace === '0' ? 0 : parseDuration(config.apiKeys.rotationGrace) / 1000,
        maxActiveApiKeysPerOwner: config.apiKeys.maxActivePerOwner,
        corsOrigins: config.corsOrigins,
        upstreamConnectTimeoutMs: config.gateway.upstreamConnectTimeoutMs,
        upstreamTimeoutMs: config.gateway.upstreamTimeoutMs,
        upstreamConnections: config.gateway.upstreamConnections,
        upstreamQueueLimit: config.gateway.upstreamQueueLimit,
        responseLimitBytes: config.gateway.responseLimitBytes,
        relayTimeoutMs: config.gateway.relayTimeoutMs,
        bodyLimitBytes: config.bodyLimitBytes,
        rateLimits: {
          limiter: rateLimiting.limiter,
          routes: config.rateLimit.routes,
          flows: config.rateLimit.flows,
          ipv6PrefixLength,
        },
        manageApiKeys: index === 0,
        identitySigner: upstream.identityAssertion ? identitySigner : undefined,
        upstreamName: upstream.name,
        dropRequestHeaders: upstream.dropRequestHeaders,
      });
    }
  }

  await app.register(demoCallback);

  const identityJwks = await identitySigner.publicJwks();
  app.get(IDENTITY_JWKS_PATH, async (_request, reply) => reply.header('cache-control', 'max-age=300').send(identityJwks));

  const readiness: ReadinessCheck[] = [{ name: isPostgres(db) ? 'postgres' : 'sqlite', probe: () => sql`select 1`.execute(db) }];
  if (redis !== null) {
    const client = redis;
    readiness.push({ name: 'redis', probe: () => client.ping() });
  }
  // The limiter has a Redis client of its own, whose commands fail until it
  // is connected. Meanwhile every limit applies its failure mode, and the
  // sign-in limit fails closed, so the instance is not ready for traffic.
  const storePing = rateLimiting.limiter.store.ping?.bind(rateLimiting.limiter.store);
  if (storePing !== undefined) {
    readiness.push({ name: 'rate-limit store', probe: storePing });
  }
  healthRoutes(app, readiness);

  app.get('/', async () => ({
    name: 'Portcullis',
    issuer: config.issuer,
    discovery: `${config.issuer}/.well-known/openid-configuration`,
    api: upstreams[0] === undefined ? null : `${config.issuer}${upstreams[0].mountPath}`,
  }));

  await reportingListenError(mainListener(config), () => app.listen({ host: config.host, port: config.port }));
  const address = app.server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;

  logger.info({ url, issuer: config.issuer }, 'authorization server listening');
  for (const upstream of upstreams) {
    // An upstream URL may carry basic-auth credentials, which stay out of the log.
    const upstreamUrl = upstream.url === null ? null : redactUrl(upstream.url);
    // Names the signing library, since node:crypto is used where libsodium does not load.
    const identityAssertion = upstream.identityAssertion ? identitySigner.implementation : false;
    logger.info({ url: `${url}${upstream.mountPath}`, upstream: upstreamUrl, name: upstream.name, identityAssertion }, 'gateway listening');
  }
  if (demo !== undefined) {
    logger.info({ url: demoUrl }, 'demo Orders API listening on loopback');
  }

  const cleanup = setInterval(() => {
    deleteExpiredPayloads(db).catch((error: unknown) => logger.error({ err: error }, 'expired payload cleanup failed'));
  }, CLEANUP_INTERVAL_MS);
  cleanup.unref();
  resources.defer('expired payload cleanup', () => clearInterval(cleanup));

  return {
    url,
    config,
    app,
    db,
    logger,
    keyRing,
    rateLimiting,
    observability,
    async close() {
      // Every close step runs even when an earlier one fails, and the first failure reaches the caller.
      const failures = await resources.closeAll();
      if (failures.length > 0) {
        throw failures[0];
      }
      return { endedRequests: shutdown.ended };
    },
    endRequests() {
      shutdown.endNow();
    },
  };
}

/**
 * Stops listening and lets running requests finish for up to
 * `shutdownTimeoutMs`, then responds to the rest with 503.
 */
async function finishRequests(shutdown: GracefulShutdown, config: Readonly<PortcullisConfig>, logger: Logger): Promise<void> {
  const closed = shutdown.start();
  const deadline = setTimeout(() => {
    logger.warn(
      { running: shutdown.running, shutdownTimeoutMs: config.shutdownTimeoutMs },
      'shutdown timed out; responding to the running requests with 503',
    );
    shutdown.endNow();
  }, config.shutdownTimeoutMs);
  try {
    await closed;
  } finally {
    clearTimeout(deadline);
  }
}

/**
 * Connects to the Redis of the `redis` setting, or returns null and warns that
 * this instance keeps sessions and rate-limit counters to itself.
 */
async function openSharedRedis(config: Readonly<PortcullisConfig>, logger: Logger): Promise<RedisClient | null> {
  if (config.redis === null) {
    // rateLimit.store: redis keeps the counters in Redis without the redis setting.
    const state = config.rateLimit.store === 'redis' ? 'sessions and interactions' : 'sessions, interactions and rate-limit counters';
    logger.warn(`no redis setting: ${state} stay in this instance, so run only one instance on this database`);
    return null;
  }

  let lastReported = 0;
  const redis = await connectRedis(config.redis, {
    cluster: config.redisCluster,
    keyPrefix: config.redisKeyPrefix,
    onError: (error) => {
      // ioredis retries every 2 seconds at most while Redis is down; one line every 30 seconds is enough.
      if (Date.now() - lastReported > 30_000) {
        lastReported = Date.now();
        logger.error({ err: error, redis: redactUrl(config.redis ?? '') }, 'Redis connection failed; reconnecting');
      }
    },
  });
  logger.info({ redis: redactUrl(config.redis) }, 'sessions, interactions and codes are kept in Redis');
  return redis;
}
