/**
 * The JSON Schema of the Portcullis configuration and its TypeScript shape.
 *
 * Every option has a default, so an empty configuration starts a working
 * server on loopback. The schema rejects unknown keys, so a misspelt option
 * fails at start instead of being ignored.
 */

export interface TokenLifetimes {
  /** Lifetime of JWT access tokens, in seconds. Default 600. */
  accessToken: number;
  /** Lifetime of refresh tokens, in seconds. Default 1209600 (14 days). */
  refreshToken: number;
  /** Lifetime of ID tokens, in seconds. Default 3600. */
  idToken: number;
  /** Lifetime of authorization codes, in seconds. Default 60. */
  authorizationCode: number;
  /** Lifetime of a grant (the user's consent to a client), in seconds. Default 1209600. */
  grant: number;
  /** Lifetime of the login session cookie, in seconds. Default 86400. */
  session: number;
}

/** One operation the gateway forwards, and what it requires of the caller. */
export interface GatewayRoute {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path template relative to the mount path, in Fastify syntax (`/orders/:id`). */
  path: string;
  /** Scopes the credential must all carry. Default none. */
  scopes: string[];
  /** Roles the account must all have. Default none. */
  roles: string[];
  /** Credential kinds accepted: `jwt`, `api_key` or both. */
  credentials: Array<'jwt' | 'api_key'>;
}

export interface GatewayConfig {
  /** Path prefix under which the gateway proxies to the upstream. Default `/api`. */
  mountPath: string;
  /** Base URL of the upstream. Default: the built-in demo Orders API. */
  upstreamUrl: string | null;
  /** Allowed clock difference when checking `exp` and `nbf`, in seconds. Default 5, at most 60. */
  clockToleranceSeconds: number;
  /** Upstream response timeout, in milliseconds. Default 30000. */
  upstreamTimeoutMs: number;
  /** The operations forwarded to the upstream; anything else gets 404. Default: the demo Orders API's. */
  routes: GatewayRoute[];
  /**
   * Path of the upstream's OpenAPI 3.0 or 3.1 document. When set, the
   * operations, their security and their request validation come from it,
   * and `routes` is ignored. Default none.
   */
  openapi: string | null;
  /** Check requests against the OpenAPI document's schemas. Default true. */
  validateRequests: boolean;
  tokenCache: TokenCacheConfig;
}

/**
 * Reuse of verified access tokens and of revocation checks. While enabled,
 * a revoked grant or a removed client keeps working for up to one second.
 */
export interface TokenCacheConfig {
  /** Default true. */
  enabled: boolean;
  /** Most tokens, and most grants and clients, remembered. Default 10000. */
  maxEntries: number;
}

/** A part of a rate-limit key: the client address, the subject, the OAuth client or the API key id. */
export type LimitKeyPart = 'ip' | 'sub' | 'client_id' | 'api_key';

/** A duration such as `500ms`, `1s`, `15m`, `1h` or `1d`. */
export type Duration = string;

export interface LimitRule {
  /** Policy name, shown in the RateLimit header fields and in 429 responses. */
  name: string;
  /** Key parts of the counter; several parts combine into one key. */
  key: LimitKeyPart[];
  /** Requests per period. */
  limit: number;
  period: Duration;
  /** Requests allowed at once. Default: `limit`. */
  burst?: number;
  /** Failure mode when the counter store fails: `open` admits, `closed` responds 503. Default `open`. */
  onStoreFailure: 'open' | 'closed';
}

export interface RouteLimits {
  method: string;
  /** Path template relative to the gateway mount path, as declared for the upstream (`/orders/:id`). */
  path: string;
  limits: LimitRule[];
}

/** A quota on a sensitive business flow, such as placing orders. */
export interface FlowQuota extends LimitRule {
  method: string;
  path: string;
}

export interface LoginProtection {
  /** Failed sign-ins per username from one client address before delays start. Default 5. */
  accountThreshold: number;
  /** Failed sign-ins per username from all addresses together before delays start. Default 50. */
  accountTotalThreshold: number;
  /** Failed sign-ins per client address before delays start. Default 20. */
  addressThreshold: number;
  /** How long failures are remembered after the last one. Default `15m`. */
  window: Duration;
  /** First delay past a threshold; it doubles with each further failure. Default `1s`. */
  baseDelay: Duration;
  /** Maximum delay. Default `15m`. */
  maxDelay: Duration;
}

export interface RateLimitConfig {
  /** Counter store: `memory` for one instance, `redis` for several. Default `memory`. */
  store: 'memory' | 'redis';
  /** Redis URL for the `redis` store. Default `redis://127.0.0.1:6379`. */
  redisUrl: string;
  /** Maximum wait for the store before a limit's failure mode applies, in milliseconds. Default 250. */
  storeTimeoutMs: number;
  /** Most counters the memory store keeps; the least recently used are evicted. Default 100000. */
  memoryMaxKeys: number;
  /** Addresses or CIDR ranges of proxies whose X-Forwarded-For is trusted. Default none. */
  trustedProxies: string[];
  /** IPv6 clients are counted per network of this many bits. Default 64. */
  ipv6PrefixLength: number;
  /** The limit per client address on every route. */
  global: LimitRule;
  /** The limit on the authorization endpoint and the sign-in, consent and registration pages. */
  signIn: LimitRule;
  /** The quota on account registrations. */
  registration: LimitRule;
  routes: RouteLimits[];
  flows: FlowQuota[];
  login: LoginProtection;
}

export interface PortcullisConfig {
  /** Address to listen on. Default `127.0.0.1`: nothing outside the machine can connect. */
  host: string;
  /** TCP port to listen on. Default 8080. */
  port: number;
  /** The issuer identifier (RFC 8414). Default `http://127.0.0.1:<port>`. */
  issuer: string;
  /** Directory for the SQLite database and the server secret. Default `./data`. */
  dataDir: string;
  /** pino log level. Default `info`. */
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** The `aud` of access tokens for the API. Default `<issuer>/api`. */
  audience: string;
  /** Browser origins allowed to make CORS requests. Default none. */
  corsOrigins: string[];
  tokens: TokenLifetimes;
  gateway: GatewayConfig;
  /** Largest accepted request body, in bytes. Default 1048576 (1 MiB). */
  bodyLimitBytes: number;
  /** Largest accepted request head, in bytes. Default 16384 (16 KiB). */
  headerLimitBytes: number;
  /** Start the demo Orders API as the default upstream. Default true. */
  demo: boolean;
  rateLimit: RateLimitConfig;
  apiKeys: ApiKeysConfig;
  registration: RegistrationConfig;
}

export interface RegistrationConfig {
  /** Let anyone create an account on the registration page. Default true. */
  enabled: boolean;
}

export interface ApiKeysConfig {
  /** How long a rotated key keeps working next to its successor; `0` ends it at once. Default `24h`. */
  rotationGrace: Duration;
}

const seconds = (maximum: number) => ({ type: 'integer', minimum: 1, maximum });

const DURATION = { type: 'string', pattern: '^[1-9][0-9]{0,8}(ms|s|m|h|d)$' } as const;
const METHOD = { enum: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] } as const;
const ROUTE_PATH = { type: 'string', pattern: '^/[A-Za-z0-9._~:/-]*$' } as const;

const LIMIT_RULE_PROPERTIES = {
  name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
  key: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: ['ip', 'sub', 'client_id', 'api_key'] } },
  limit: { type: 'integer', minimum: 1, maximum: 1_000_000_000 },
  period: DURATION,
  burst: { type: 'integer', minimum: 1, maximum: 1_000_000_000 },
  onStoreFailure: { enum: ['open', 'closed'] },
} as const;

const LIMIT_RULE = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'key', 'limit', 'period', 'onStoreFailure'],
  properties: LIMIT_RULE_PROPERTIES,
} as const;

const RATE_LIMIT_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: [
    'store',
    'redisUrl',
    'storeTimeoutMs',
    'memoryMaxKeys',
    'trustedProxies',
    'ipv6PrefixLength',
    'global',
    'signIn',
    'registration',
    'routes',
    'flows',
    'login',
  ],
  properties: {
    store: { enum: ['memory', 'redis'] },
    redisUrl: { type: 'string', pattern: '^rediss?://' },
    storeTimeoutMs: { type: 'integer', minimum: 1, maximum: 60_000 },
    memoryMaxKeys: { type: 'integer', minimum: 100, maximum: 100_000_000 },
    trustedProxies: { type: 'array', items: { type: 'string', minLength: 1 } },
    ipv6PrefixLength: { type: 'integer', minimum: 32, maximum: 128 },
    global: LIMIT_RULE,
    signIn: LIMIT_RULE,
    registration: LIMIT_RULE,
    routes: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['method', 'path', 'limits'],
        properties: { method: METHOD, path: ROUTE_PATH, limits: { type: 'array', minItems: 1, items: LIMIT_RULE } },
      },
    },
    flows: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'key', 'limit', 'period', 'onStoreFailure', 'method', 'path'],
        properties: { ...LIMIT_RULE_PROPERTIES, method: METHOD, path: ROUTE_PATH },
      },
    },
    login: {
      type: 'object',
      additionalProperties: false,
      required: ['accountThreshold', 'accountTotalThreshold', 'addressThreshold', 'window', 'baseDelay', 'maxDelay'],
      properties: {
        accountThreshold: { type: 'integer', minimum: 1, maximum: 1000 },
        accountTotalThreshold: { type: 'integer', minimum: 1, maximum: 100_000 },
        addressThreshold: { type: 'integer', minimum: 1, maximum: 100_000 },
        window: DURATION,
        baseDelay: DURATION,
        maxDelay: DURATION,
      },
    },
  },
} as const;

export const CONFIG_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://portcullis.invalid/schema/config.json',
  title: 'Portcullis configuration',
  type: 'object',
  additionalProperties: false,
  required: ['host', 'port', 'issuer', 'dataDir', 'logLevel', 'audience', 'corsOrigins', 'tokens', 'gateway'],
  properties: {
    host: { type: 'string', minLength: 1 },
    port: { type: 'integer', minimum: 0, maximum: 65535 },
    issuer: { type: 'string', format: 'uri', pattern: '^https?://' },
    dataDir: { type: 'string', minLength: 1 },
    logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
    audience: { type: 'string', minLength: 1, maxLength: 2048 },
    corsOrigins: {
      type: 'array',
      uniqueItems: true,
      items: { type: 'string', pattern: '^https?://[^/?#@*\\s]+$' },
    },
    tokens: {
      type: 'object',
      additionalProperties: false,
      required: ['accessToken', 'refreshToken', 'idToken', 'authorizationCode', 'grant', 'session'],
      properties: {
        accessToken: seconds(86_400),
        refreshToken: seconds(31_536_000),
        idToken: seconds(86_400),
        authorizationCode: seconds(600),
        grant: seconds(31_536_000),
        session: seconds(31_536_000),
      },
    },
    gateway: {
      type: 'object',
      additionalProperties: false,
      required: ['mountPath', 'upstreamUrl', 'clockToleranceSeconds', 'upstreamTimeoutMs', 'routes', 'openapi', 'validateRequests', 'tokenCache'],
      properties: {
        mountPath: { type: 'string', pattern: '^/[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$' },
        upstreamUrl: { type: ['string', 'null'], format: 'uri', pattern: '^https?://' },
        clockToleranceSeconds: { type: 'integer', minimum: 0, maximum: 60 },
        upstreamTimeoutMs: { type: 'integer', minimum: 100, maximum: 300_000 },
        openapi: { type: ['string', 'null'], minLength: 1 },
        validateRequests: { type: 'boolean' },
        tokenCache: {
          type: 'object',
          additionalProperties: false,
          required: ['enabled', 'maxEntries'],
          properties: { enabled: { type: 'boolean' }, maxEntries: { type: 'integer', minimum: 1, maximum: 10_000_000 } },
        },
        routes: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['method', 'path', 'credentials'],
            properties: {
              method: METHOD,
              path: { type: 'string', pattern: '^/([A-Za-z0-9._~-]+|:[A-Za-z_][A-Za-z0-9_]*)(/([A-Za-z0-9._~-]+|:[A-Za-z_][A-Za-z0-9_]*))*$' },
              scopes: { type: 'array', uniqueItems: true, items: { type: 'string', pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$' }, default: [] },
              roles: { type: 'array', uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: 64 }, default: [] },
              credentials: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: ['jwt', 'api_key'] } },
            },
          },
        },
      },
    },
    bodyLimitBytes: { type: 'integer', minimum: 1024, maximum: 104_857_600 },
    headerLimitBytes: { type: 'integer', minimum: 4096, maximum: 65_536 },
    demo: { type: 'boolean' },
    rateLimit: RATE_LIMIT_SCHEMA,
    registration: {
      type: 'object',
      additionalProperties: false,
      required: ['enabled'],
      properties: { enabled: { type: 'boolean' } },
    },
    apiKeys: {
      type: 'object',
      additionalProperties: false,
      required: ['rotationGrace'],
      properties: { rotationGrace: { type: 'string', pattern: '^(0|[1-9][0-9]{0,8}(s|m|h|d))$' } },
    },
  },
} as const;
