import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { YAMLParseError, parse as parseYaml } from 'yaml';

import { MAX_ROTATION_GRACE_SECONDS } from '../core/api-keys/lifetimes.js';
import { parseDuration } from '../core/duration.js';
import { trustedProxyProblem } from '../core/trusted-proxies.js';
import { maxLimitForPeriod } from '../core/rate-limit/gcra.js';
import { defaultDatabaseUrl, parseDatabaseUrl } from '../store/database-url.js';
import { CONFIG_SCHEMA, type FlowQuota, type PortcullisConfig, type RateLimitConfig } from './schema.js';
import { checkUpstreams, demoRoutes, foldShorthandUpstream } from './upstreams.js';

// ajv-formats is published as CommonJS with the plugin on `default`.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/** Options given on the command line; each one wins over its environment variable. */
export interface ConfigOverrides {
  /** Path of a YAML configuration file. */
  config?: string;
  host?: string;
  port?: number;
  issuer?: string;
  dataDir?: string;
  /** The `database` setting: `sqlite:<path>` or a `postgres://` URL. */
  databaseUrl?: string;
  /** The `redis` setting. */
  redisUrl?: string;
  /** The `redisCluster` setting. */
  redisCluster?: boolean;
  /** The `redisKeyPrefix` setting. */
  redisKeyPrefix?: string;
  logLevel?: string;
  corsOrigins?: string[];
  upstreamUrl?: string;
  demo?: boolean;
}

/** A configuration that failed validation, with one message per invalid option. */
export class ConfigError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(`Invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

type Environment = Record<string, string | undefined>;

function parseInteger(name: string, value: string | undefined, problems: string[]): number | undefined {
  if (value === undefined || value === '') {
    return undefined;
  }

  if (!/^\d+$/.test(value)) {
    problems.push(`${name}: must be a whole number, got '${value}'`);
    return undefined;
  }

  return Number(value);
}

function parseList(value: string | undefined): string[] | undefined {
  if (value === undefined || value.trim() === '') {
    return undefined;
  }

  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

function parseBoolean(name: string, value: string | undefined, problems: string[]): boolean | undefined {
  if (value === undefined || value === '') {
    return undefined;
  }

  if (value === 'true' || value === '1') {
    return true;
  }

  if (value === 'false' || value === '0') {
    return false;
  }

  problems.push(`${name}: must be true or false, got '${value}'`);
  return undefined;
}

const ENVIRONMENT_VARIABLES: Record<keyof ConfigOverrides, string> = {
  config: 'PORTCULLIS_CONFIG',
  host: 'PORTCULLIS_HOST',
  port: 'PORTCULLIS_PORT',
  issuer: 'PORTCULLIS_ISSUER',
  dataDir: 'PORTCULLIS_DATA_DIR',
  databaseUrl: 'PORTCULLIS_DATABASE_URL',
  redisUrl: 'PORTCULLIS_REDIS_URL',
  redisCluster: 'PORTCULLIS_REDIS_CLUSTER',
  redisKeyPrefix: 'PORTCULLIS_REDIS_KEY_PREFIX',
  logLevel: 'PORTCULLIS_LOG_LEVEL',
  corsOrigins: 'PORTCULLIS_CORS_ORIGINS',
  upstreamUrl: 'PORTCULLIS_UPSTREAM_URL',
  demo: 'PORTCULLIS_DEMO',
};

function readEnvironment(env: Environment, problems: string[]): ConfigOverrides {
  const fromEnv: ConfigOverrides = {};
  const assign = <K extends keyof ConfigOverrides>(key: K, value: ConfigOverrides[K] | undefined) => {
    if (value !== undefined) {
      fromEnv[key] = value;
    }
  };

  assign('config', env['PORTCULLIS_CONFIG'] || undefined);
  assign('host', env['PORTCULLIS_HOST'] || undefined);
  assign('port', parseInteger('PORTCULLIS_PORT', env['PORTCULLIS_PORT'], problems));
  assign('issuer', env['PORTCULLIS_ISSUER'] || undefined);
  // Kept when empty, so that loadConfig rejects it like an empty --data-dir.
  assign('dataDir', env['PORTCULLIS_DATA_DIR']);
  assign('databaseUrl', env['PORTCULLIS_DATABASE_URL'] || undefined);
  assign('redisUrl', env['PORTCULLIS_REDIS_URL'] || undefined);
  assign('redisCluster', parseBoolean('PORTCULLIS_REDIS_CLUSTER', env['PORTCULLIS_REDIS_CLUSTER'], problems));
  assign('redisKeyPrefix', env['PORTCULLIS_REDIS_KEY_PREFIX'] || undefined);
  assign('logLevel', env['PORTCULLIS_LOG_LEVEL'] || undefined);
  assign('corsOrigins', parseList(env['PORTCULLIS_CORS_ORIGINS']));
  assign('upstreamUrl', env['PORTCULLIS_UPSTREAM_URL'] || undefined);
  assign('demo', parseBoolean('PORTCULLIS_DEMO', env['PORTCULLIS_DEMO'], problems));

  return fromEnv;
}

/** Returns the loopback issuer for `port`, or for 8080 when `port` is invalid and rejected later. */
function defaultIssuer(port: unknown): string {
  return `http://127.0.0.1:${Number.isInteger(port) ? String(port) : '8080'}`;
}

function withoutTrailingSlash(url: string): string {
  return url.endsWith('/') ? url.slice(0, -1) : url;
}

/**
 * How long a grant, client or API key check is reused by default, in
 * milliseconds: the maximum delay before a revocation by the admin CLI
 * reaches the gateway.
 */
export const DEFAULT_REVOCATION_CHECK_TTL_MS = 1000;

/** The OpenAPI document of the demo Orders API, shipped with the package. */
export const DEMO_OPENAPI_DOCUMENT = fileURLToPath(new URL('../../openapi/demo-orders.yaml', import.meta.url));

function fileUpstream(file: JsonObject): unknown {
  const gateway = file['gateway'];
  return isObject(gateway) ? gateway['upstreamUrl'] : undefined;
}

/** Returns the built-in rate limits: a per-address limit on every route and the demo's order quota. */
export function defaultRateLimits(): RateLimitConfig {
  return {
    store: 'memory',
    redisUrl: 'redis://127.0.0.1:6379',
    storeTimeoutMs: 250,
    memoryMaxKeys: 100_000,
    trustedProxies: [],
    ipv6PrefixLength: 64,
    global: { name: 'global', key: ['ip'], limit: 100, period: '1s', onStoreFailure: 'open' },
    signIn: { name: 'sign-in', key: ['ip'], limit: 100, period: '100s', onStoreFailure: 'closed' },
    registration: { name: 'registration', key: ['ip'], limit: 10, period: '1h', onStoreFailure: 'closed' },
    routes: [],
    flows: [
      {
        name: 'order-creation',
        method: 'POST',
        path: '/orders',
        key: ['sub'],
        limit: 5,
        period: '1h',
        onStoreFailure: 'closed',
      },
      // Each import makes an outbound request, so it gets a quota of its own.
      {
        name: 'order-import',
        method: 'POST',
        path: '/orders/import',
        key: ['sub'],
        limit: 10,
        period: '1h',
        onStoreFailure: 'closed',
      },
    ],
    login: { accountThreshold: 5, accountTotalThreshold: 50, addressThreshold: 20, window: '15m', baseDelay: '1s', maxDelay: '15m' },
    // Only failed authentications count, so however often a service authenticates, its successes add nothing.
    clientAuthentication: { clientThreshold: 10, clientTotalThreshold: 100, addressThreshold: 50, window: '15m', baseDelay: '1s', maxDelay: '15m' },
  };
}

type JsonObject = Record<string, unknown>;

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Merges `override` into `base`: objects member by member, anything else replaced. */
function merge(base: unknown, override: unknown, path: string, problems: string[]): unknown {
  if (!isObject(base) || !isObject(override)) {
    return override === undefined ? base : override;
  }

  const result: JsonObject = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (FORBIDDEN_KEYS.has(key)) {
      problems.push(`${path}${key}: is not an allowed option name`);
      continue;
    }
    result[key] = merge(base[key], value, `${path}${key}/`, problems);
  }
  return result;
}

/** Reads the YAML file at `path`, which the option `source` (`--config` or `PORTCULLIS_CONFIG`) named. */
function readConfigFile(path: string, source: string, problems: string[]): JsonObject {
  if (path === '') {
    problems.push(`${source}: must not be empty; give the config file's path, or omit the option to use no config file`);
    return {};
  }

  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const problem = code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? 'error'})`;
    problems.push(`${source}: config file ${path} ${problem}; check the path`);
    return {};
  }

  try {
    const document: unknown = parseYaml(text, { maxAliasCount: 100 });
    if (document === null || document === undefined) {
      return {};
    }
    if (!isObject(document)) {
      problems.push(`${path}: must contain a mapping of options at the top level`);
      return {};
    }
    return document;
  } catch (error) {
    const where = error instanceof YAMLParseError && error.linePos !== undefined ? ` at line ${error.linePos[0].line}` : '';
    problems.push(`${path}: is not valid YAML${where}`);
    return {};
  }
}

export const DEFAULT_PORT = 8080;

/**
 * Returns the value of every option that the file, the environment and the
 * flags leave out. `demoUpstream` is true when no upstream URL is given, so
 * the demo Orders API's document applies.
 */
export function configDefaults(port: number, issuer: string, demoUpstream: boolean): Omit<PortcullisConfig, 'database' | 'idleTimeoutMs'> {
  return {
    host: '127.0.0.1',
    port,
    issuer,
    dataDir: 'data',
    redis: null,
    redisCluster: false,
    redisKeyPrefix: 'portcullis:',
    logLevel: 'info',
    audience: `${issuer}/api`,
    corsOrigins: [],
    tokens: {
      accessToken: 600,
      refreshToken: 14 * 86_400,
      idToken: 3600,
      authorizationCode: 60,
      grant: 14 * 86_400,
      session: 86_400,
    },
    gateway: {
      mountPath: '/api',
      upstreamUrl: null,
      clockToleranceSeconds: 5,
      upstreamConnectTimeoutMs: 5000,
      upstreamTimeoutMs: 30_000,
      upstreamConnections: 128,
      upstreamQueueLimit: 1024,
      responseLimitBytes: 1_048_576,
      relayTimeoutMs: 300_000,
      routes: demoRoutes(),
      openapi: demoUpstream ? DEMO_OPENAPI_DOCUMENT : null,
      upstreams: [],
      validateRequests: true,
      tokenCache: { enabled: true, maxEntries: 10_000 },
      revocationCheckTtlMs: DEFAULT_REVOCATION_CHECK_TTL_MS,
    },
    bodyLimitBytes: 1_048_576,
    headerLimitBytes: 16_384,
    requestTimeoutMs: 30_000,
    shutdownTimeoutMs: 10_000,
    demo: true,
    rateLimit: defaultRateLimits(),
    apiKeys: { rotationGrace: '24h', maxActivePerOwner: 100 },
    registration: { enabled: true },
    audit: { retention: '90d' },
    metrics: { enabled: false, host: '127.0.0.1', port: 9464 },
  };
}

function buildConfig(file: JsonObject, options: ConfigOverrides, problems: string[]): PortcullisConfig {
  // A value of the wrong type is kept as it is, so that validation names it
  // instead of a default taking its place.
  const port = (options.port ?? file['port'] ?? DEFAULT_PORT) as number;
  const givenIssuer: unknown = options.issuer ?? file['issuer'];
  const issuer = (typeof givenIssuer === 'string' ? withoutTrailingSlash(givenIssuer) : givenIssuer ?? defaultIssuer(port)) as string;

  const demoUpstream = options.upstreamUrl === undefined && fileUpstream(file) === undefined;
  const defaults = configDefaults(port, issuer, demoUpstream);

  const fromFile = merge(defaults, file, '', problems) as Omit<PortcullisConfig, 'database' | 'idleTimeoutMs'> & {
    database?: string;
    idleTimeoutMs?: number;
  };
  const dataDir = options.dataDir ?? fromFile.dataDir;
  const redis = options.redisUrl ?? fromFile.redis;
  const config: PortcullisConfig = {
    ...fromFile,
    port,
    issuer,
    idleTimeoutMs: fromFile.idleTimeoutMs ?? defaultIdleTimeoutMs(fromFile.gateway),
    host: options.host ?? fromFile.host,
    dataDir,
    database: options.databaseUrl ?? fromFile.database ?? defaultDatabaseUrl(typeof dataDir === 'string' ? resolve(dataDir) : 'data'),
    redis,
    redisCluster: options.redisCluster ?? fromFile.redisCluster,
    redisKeyPrefix: options.redisKeyPrefix ?? fromFile.redisKeyPrefix,
    // One Redis setting serves every shared store, the rate-limit counters included.
    rateLimit: redis === null || !isObject(fromFile.rateLimit) ? fromFile.rateLimit : { ...fromFile.rateLimit, store: 'redis', redisUrl: redis },
    logLevel: (options.logLevel ?? fromFile.logLevel) as PortcullisConfig['logLevel'],
    corsOrigins: options.corsOrigins ?? fromFile.corsOrigins,
    demo: options.demo ?? fromFile.demo,
    gateway: isObject(fromFile.gateway) ? { ...fromFile.gateway, upstreamUrl: options.upstreamUrl ?? fromFile.gateway.upstreamUrl ?? null } : fromFile.gateway,
  };

  if (typeof config.dataDir === 'string' && config.dataDir !== '') {
    config.dataDir = resolve(config.dataDir);
  }
  return config;
}

/**
 * Returns the default idle timeout: long enough for a request that waits
 * `upstreamTimeoutMs` for the upstream's response headers and as long
 * again for a checked response body, with 10 seconds to spare.
 */
function defaultIdleTimeoutMs(gateway: unknown): number {
  // NOTE: opening a new upstream connection may take up to
  // gateway.upstreamConnectTimeoutMs on top, covered only by the 10 seconds
  // to spare or by the margin below 120 seconds. A request sent a second
  // time after its connection closed shares one upstreamTimeoutMs between
  // both attempts.
  const upstreamTimeoutMs = isObject(gateway) ? gateway['upstreamTimeoutMs'] : undefined;
  // An invalid upstream timeout is reported by validation, under its own name.
  return typeof upstreamTimeoutMs === 'number' ? Math.max(120_000, 2 * upstreamTimeoutMs + 10_000) : 120_000;
}

/** Checks rules that JSON Schema cannot express; returns one message per violation. */
function checkSemantics(config: PortcullisConfig): string[] {
  const problems: string[] = [];

  const issuer = URL.parse(config.issuer);
  if (issuer !== null && (issuer.search !== '' || issuer.hash !== '')) {
    problems.push('issuer: must not contain a query or fragment (RFC 8414 section 2)');
  }
  if (issuer !== null && issuer.pathname !== '/') {
    problems.push('issuer: must have no path, because the authorization server is served at the root of its origin');
  }

  const wildcard = (host: string) => host === '0.0.0.0' || host === '::';
  const sameAddress = config.metrics.host === config.host || wildcard(config.metrics.host) || wildcard(config.host);
  if (config.metrics.enabled && config.metrics.port === config.port && sameAddress) {
    problems.push('metrics/port: is also the port of the server; choose another port for the metrics listener');
  }

  if (config.idleTimeoutMs < config.gateway.upstreamTimeoutMs) {
    problems.push(
      `idleTimeoutMs: is ${config.idleTimeoutMs}, shorter than gateway.upstreamTimeoutMs (${config.gateway.upstreamTimeoutMs}), so a connection waiting on the upstream would be closed before the upstream timed out; raise idleTimeoutMs or lower gateway.upstreamTimeoutMs`,
    );
  }

  if (config.redisCluster && config.redis === null) {
    problems.push('redisCluster: treats the Redis URL as a seed node of a cluster, but no Redis URL is set; set --redis-url, PORTCULLIS_REDIS_URL or redis');
  }

  // An upstream without a URL is the demo Orders API, which runs only with the demo on.
  if (!config.demo) {
    config.gateway.upstreams.forEach((upstream, index) => {
      if (upstream.url === null) {
        problems.push(
          `gateway/upstreams/${index}: has no url, so it is the demo Orders API, which demo: false turns off; set gateway.upstreamUrl (or PORTCULLIS_UPSTREAM_URL) to your service, or turn the demo on`,
        );
      }
    });
  }

  problems.push(...checkBackendUrls(config));

  const limits = config.rateLimit;
  const rules = [
    ['rateLimit/global', limits.global] as const,
    ['rateLimit/signIn', limits.signIn] as const,
    ['rateLimit/registration', limits.registration] as const,
    ...limits.routes.flatMap((route, routeIndex) =>
      route.limits.map((rule, index) => [`rateLimit/routes/${routeIndex}/limits/${index}`, rule] as const),
    ),
    ...limits.flows.map((rule, index) => [`rateLimit/flows/${index}`, rule] as const),
  ];
  problems.push(...checkRequestLimitKeys(limits));
  for (const [path, rule] of rules) {
    if (rule.burst !== undefined && rule.burst > rule.limit * 1000) {
      problems.push(`${path}/burst: must be at most 1000 times the limit`);
    }
    const maxLimit = maxLimitForPeriod(parseDuration(rule.period));
    if (rule.limit > maxLimit) {
      problems.push(`${path}/limit: must be at most ${maxLimit} for a period of ${rule.period}, one request per microsecond`);
    }
  }

  for (const section of ['login', 'clientAuthentication'] as const) {
    for (const name of ['window', 'baseDelay', 'maxDelay'] as const) {
      try {
        parseDuration(limits[section][name]);
      } catch (error) {
        problems.push(`rateLimit/${section}/${name}: ${(error as Error).message}`);
      }
    }
  }

  const grace = config.apiKeys.rotationGrace;
  if (grace !== '0' && parseDuration(grace) / 1000 > MAX_ROTATION_GRACE_SECONDS) {
    problems.push(`apiKeys/rotationGrace: must be at most ${MAX_ROTATION_GRACE_SECONDS / 86_400}d`);
  }

  limits.trustedProxies.forEach((entry, index) => {
    const problem = trustedProxyProblem(entry);
    if (problem !== undefined) {
      problems.push(`rateLimit/trustedProxies/${index}: ${problem}`);
    }
  });

  config.corsOrigins.forEach((origin, index) => {
    const parsed = URL.parse(origin);
    if (parsed === null || parsed.origin !== origin) {
      problems.push(
        `corsOrigins/${index}: '${origin}' is not a serialized origin such as https://app.example.com (no path, no trailing slash, lower-case host)`,
      );
    }
  });

  return problems;
}

/**
 * Checks that the limits applied to every request, to sign-in and to
 * registration are keyed by the client address only. They run before the
 * gateway reads any credential, so a `sub`, `client_id` or `api_key` part
 * is never known there, and a limit with one would silently never apply.
 */
function checkRequestLimitKeys(limits: RateLimitConfig): string[] {
  const sections = ['global', 'signIn', 'registration'] as const;
  return sections.flatMap((section) => {
    const unknownParts = limits[section].key.filter((part) => part !== 'ip');
    if (unknownParts.length === 0) {
      return [];
    }
    return [
      `rateLimit/${section}/key: must be [ip], because this limit applies before any credential is read, so ${unknownParts.join(' and ')} is never known and the limit would never apply. ` +
        'Put per-user, per-client or per-key limits in rateLimit.routes.',
    ];
  });
}

/**
 * Checks that the database and Redis URLs parse. The messages leave the
 * value out, because a URL that does not parse cannot be masked reliably
 * and may contain a password.
 */
function checkBackendUrls(config: PortcullisConfig): string[] {
  const problems: string[] = [];
  try {
    parseDatabaseUrl(config.database);
  } catch (error) {
    problems.push(`database: ${(error as Error).message}; check the host and the port (1 to 65535)`);
  }

  const redisMessage = 'is not a valid Redis URL such as redis://:password@redis.example.com:6379; check the host and the port (1 to 65535)';
  if (config.redis !== null && !isValidRedisUrl(config.redis)) {
    problems.push(`redis: ${redisMessage}`);
  }
  const limits = config.rateLimit;
  if (limits.store === 'redis' && limits.redisUrl !== config.redis && !isValidRedisUrl(limits.redisUrl)) {
    problems.push(`rateLimit/redisUrl: ${redisMessage}`);
  }
  return problems;
}

function isValidRedisUrl(value: string): boolean {
  const url = URL.parse(value);
  return url !== null && url.hostname !== '';
}

/** The option of ConfigOverrides that sets each configuration path. */
const OVERRIDE_PATHS: Record<string, keyof ConfigOverrides> = {
  host: 'host',
  port: 'port',
  issuer: 'issuer',
  dataDir: 'dataDir',
  database: 'databaseUrl',
  redis: 'redisUrl',
  redisCluster: 'redisCluster',
  redisKeyPrefix: 'redisKeyPrefix',
  logLevel: 'logLevel',
  corsOrigins: 'corsOrigins',
  demo: 'demo',
  'gateway/upstreamUrl': 'upstreamUrl',
};

interface ValueSources {
  flags: ConfigOverrides;
  fromEnv: ConfigOverrides;
  fileName: string | undefined;
}

/**
 * Prefixes `message` with where the value at `path` came from: the flag,
 * the environment variable or the configuration file, in that precedence.
 */
function describeProblem(path: string, message: string, sources: ValueSources): string {
  const overridePath = Object.keys(OVERRIDE_PATHS).find((candidate) => path === candidate || path.startsWith(`${candidate}/`));
  const key = overridePath === undefined ? undefined : OVERRIDE_PATHS[overridePath];
  let name: string | undefined;
  if (key !== undefined && sources.flags[key] !== undefined) {
    name = `--${key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
  } else if (key !== undefined && sources.fromEnv[key] !== undefined) {
    name = ENVIRONMENT_VARIABLES[key];
  }

  if (name !== undefined) {
    return path === overridePath ? `${name}: ${message}` : `${name} (${path}): ${message}`;
  }
  return sources.fileName === undefined ? `${path}: ${message}` : `${sources.fileName}: ${path}: ${message}`;
}

/**
 * Returns the message of one schema violation. ajv reports a broken pattern
 * with the regular expression itself, which is hard to read for someone
 * editing a YAML file, so every pattern in the schema carries a description that
 * names the accepted form.
 */
function messageOf(error: ErrorObject): string {
  const parent: unknown = error.parentSchema;
  if (error.keyword === 'pattern' && isObject(parent) && typeof parent['description'] === 'string') {
    return `must be ${parent['description']}`;
  }

  return `${error.message ?? 'is invalid'}${detailOf(error)}`;
}

/** Returns the detail that ajv leaves out of its message: the unknown property or the allowed values. */
function detailOf(error: ErrorObject): string {
  if (error.keyword === 'additionalProperties') {
    return ` '${String(error.params['additionalProperty'])}'`;
  }
  if (error.keyword === 'enum') {
    return `: ${(error.params['allowedValues'] as unknown[]).map(String).join(', ')}`;
  }
  // YAML reads an unquoted 10.1 or true as a number or a boolean, which a
  // reader who meant text would not guess from "must be string" alone.
  const expected = String(error.params['type']);
  if (error.keyword === 'type' && expected.split(',').includes('string') && ['number', 'boolean'].includes(typeof error.data)) {
    return ` (the file gives the ${typeof error.data} ${String(error.data)}; put the value in quotes to give it as text)`;
  }
  return '';
}

// verbose: errors carry their schema, whose description names a pattern's accepted form.
const ajv = new Ajv({ allErrors: true, strict: true, useDefaults: true, verbose: true });
addFormats(ajv);
const validate = ajv.compile(CONFIG_SCHEMA);

/**
 * Returns a message when the data directory is set to an empty string.
 * path.resolve('') is the working directory, where the database and the
 * server secret would land next to the user's files.
 */
function checkDataDirNotEmpty(flags: ConfigOverrides, fromEnv: ConfigOverrides): string | undefined {
  if (flags.dataDir === '') {
    return "--data-dir: must not be empty; give the data directory's path, or omit the option to use ./data";
  }
  if (flags.dataDir === undefined && fromEnv.dataDir === '') {
    return "PORTCULLIS_DATA_DIR: must not be empty; give the data directory's path, or unset the variable to use ./data";
  }
  return undefined;
}

/**
 * Builds the configuration from defaults, environment variables and command
 * line options, in rising order of precedence, then validates and freezes it.
 *
 * Throws ConfigError naming every invalid option.
 */
export function loadConfig(overrides: ConfigOverrides = {}, env: Environment = process.env): Readonly<PortcullisConfig> {
  const problems: string[] = [];
  const fromEnv = readEnvironment(env, problems);
  const definedOverrides = Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined));
  const options: ConfigOverrides = { ...fromEnv, ...definedOverrides };
  const emptyDataDir = checkDataDirNotEmpty(definedOverrides, fromEnv);
  if (emptyDataDir !== undefined) {
    throw new ConfigError([...problems, emptyDataDir]);
  }

  const configSource = definedOverrides.config !== undefined ? '--config' : ENVIRONMENT_VARIABLES.config;
  const file = options.config === undefined ? {} : readConfigFile(options.config, configSource, problems);
  const config = buildConfig(file, options, problems);
  const fileName = options.config === undefined ? undefined : basename(options.config);
  const describe = (path: string, message: string) => describeProblem(path, message, { flags: definedOverrides, fromEnv, fileName });

  // The redis setting is copied into rateLimit.redisUrl, where a bad value
  // would be reported a second time under a key the user never set.
  const copiedRedisUrl = isObject(config.rateLimit) && config.redis !== null && config.rateLimit.redisUrl === config.redis;
  if (!validate(config)) {
    for (const error of validate.errors ?? []) {
      const path = error.instancePath === '' ? '(root)' : error.instancePath.slice(1);
      if (copiedRedisUrl && path === 'rateLimit/redisUrl') {
        continue;
      }
      problems.push(describe(path, messageOf(error)));
    }
  } else {
    const fileGateway = isObject(file['gateway']) ? file['gateway'] : {};
    const semantic = [
      ...foldShorthandUpstream(config.gateway, fileGateway, options.upstreamUrl, DEMO_OPENAPI_DOCUMENT),
      ...checkSemantics(config),
      ...checkUpstreams(config.gateway.upstreams),
    ];
    dropDemoQuotas(config, file);
    for (const problem of semantic) {
      const separator = problem.indexOf(': ');
      problems.push(describe(problem.slice(0, separator), problem.slice(separator + 2)));
    }
  }

  if (problems.length > 0) {
    throw new ConfigError(problems);
  }

  return deepFreeze(config);
}

/**
 * Drops each default `rateLimit.flows` quota that no upstream declares.
 * The defaults name the demo Orders API's `POST /orders` and
 * `POST /orders/import`, and a quota on an undeclared operation stops the
 * start, so without this a configuration for another service would have to
 * turn them off first.
 */
function dropDemoQuotas(config: PortcullisConfig, file: JsonObject): void {
  const fileRateLimit = isObject(file['rateLimit']) ? file['rateLimit'] : {};
  if (fileRateLimit['flows'] !== undefined) {
    return;
  }

  const declared = (flow: FlowQuota) =>
    config.gateway.upstreams.some((upstream) =>
      upstream.openapi === null
        ? upstream.routes.some((route) => route.method === flow.method && route.path === flow.path)
        : resolve(upstream.openapi) === DEMO_OPENAPI_DOCUMENT,
    );
  config.rateLimit.flows = config.rateLimit.flows.filter(declared);
}

function deepFreeze<T extends object>(value: T): Readonly<T> {
  for (const child of Object.values(value)) {
    if (child !== null && typeof child === 'object') {
      deepFreeze(child as object);
    }
  }

  return Object.freeze(value);
}
