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

/** Deprecation and sunset of an upstream or an operation. An operation's values win over its upstream's. */
export interface LifecyclePolicy {
  /** Date-time (RFC 3339) when the deprecation takes or took effect, sent as the `Deprecation` header (RFC 9745). Default none. */
  deprecation?: string;
  /** Date-time (RFC 3339) when the operation stops working, sent as the `Sunset` header (RFC 8594). From then on requests get 410. Default none. */
  sunset?: string;
  /** A page about the deprecation, sent as `Link: <…>; rel="deprecation"`. Default none. */
  deprecationLink?: string;
  /** A page about the sunset, sent as `Link: <…>; rel="sunset"`. Default none. */
  sunsetLink?: string;
}

/**
 * An object-level rule: a request parameter must match a claim of the caller,
 * so that a caller cannot name another user's or tenant's objects.
 */
export interface ObjectBinding {
  /** Location of the value: a `path` or `query` parameter, or a member of the JSON request `body`. */
  in: 'path' | 'query' | 'body';
  /** The parameter name, as the OpenAPI document spells it (`userId`), or for `body` a JSON Pointer (RFC 6901) to the member (`/account/id`). */
  name: string;
  /** Claim compared with the parameter. `sub` is the subject, which for an API key is the key's owner. */
  claim: string;
  /** `equals`: the claim is the value. `oneOf`: the claim is a list that contains the value. */
  match: 'equals' | 'oneOf';
  /** Roles whose holders skip this rule, for example `admin`. Default none. */
  bypassRoles: string[];
}

/** Gateway policy of one operation, keyed by operationId or `METHOD /path` (`GET /users/{userId}/orders`). */
export interface OperationPolicy extends LifecyclePolicy {
  /** Scopes required in addition to those of the OpenAPI document. Default none. */
  scopes: string[];
  /** Roles required in addition to `x-portcullis-roles`. Default none. */
  roles: string[];
  /** Whether the operation is served without credentials, the only way an operation without `security` is accepted. Default false. */
  public: boolean;
  /** Object-level rules checked after scopes and roles. Default none. */
  bindings: ObjectBinding[];
}

/** One upstream service behind the gateway. */
export interface UpstreamConfig extends LifecyclePolicy {
  /** Unique name, used in logs and error messages. */
  name: string;
  /** Base URL of the upstream, or null for the built-in demo Orders API. */
  url: string | null;
  /** Path prefix under which the gateway proxies to this upstream. Mount paths must not overlap. */
  mountPath: string;
  /** Path of the upstream's OpenAPI 3.0 or 3.1 document, or null to use `routes`. */
  openapi: string | null;
  /** The operations forwarded when `openapi` is null. Default none. */
  routes: GatewayRoute[];
  /** Policy per operation. Default none. */
  operations: Record<string, OperationPolicy>;
  /**
   * Sign the `x-portcullis-identity` assertion for every forwarded request.
   * Default true. Turn it off only for a service that reads the plain
   * identity headers and is reachable through the gateway alone, because
   * in benchmark profiles the signature costs more CPU time than any other step.
   */
  identityAssertion: boolean;
  /**
   * Request headers that never reach this upstream from a caller, besides
   * the credentials, proxy and identity headers the gateway always drops:
   * headers the service trusts, such as `x-user-id`. Names are compared
   * without case and with `_` and other punctuation read as `-`, and a
   * name ending in `*` drops every header that starts with it. Default none.
   */
  dropRequestHeaders: string[];
}

export interface GatewayConfig {
  /** Allowed clock difference when checking `exp` and `nbf`, in seconds. Default 5, at most 60. */
  clockToleranceSeconds: number;
  /** Maximum time to open a connection to the upstream, in milliseconds, 100 to 60000. Default 5000. */
  upstreamConnectTimeoutMs: number;
  /**
   * Maximum wait for the upstream's response headers, in milliseconds, 100
   * to 300000. A response body the gateway checks must then arrive within
   * the same time again, and a body relayed unchecked may pause that long
   * between two chunks. Default 30000.
   */
  upstreamTimeoutMs: number;
  /** Connections the gateway keeps to each upstream, 1 to 4096. Default 128. */
  upstreamConnections: number;
  /**
   * Requests that may wait for a connection to one upstream while all are
   * busy, 0 to 100000; one more gets 503. A request that waits gets
   * `upstreamTimeoutMs` for the wait and the response headers together.
   * Default 1024.
   */
  upstreamQueueLimit: number;
  /** Largest upstream response body the gateway reads to check it, in bytes. Default 1048576 (1 MiB). */
  responseLimitBytes: number;
  /**
   * Maximum time to relay a response body that the gateway does not check,
   * from its first bytes to its end, in milliseconds. The gateway then
   * closes the connection. Default 300000 (5 minutes).
   */
  relayTimeoutMs: number;
  /**
   * The upstreams behind the gateway. Default: when the file lists none, one
   * upstream built from the shorthand keys below.
   */
  upstreams: UpstreamConfig[];
  /** Shorthand for one upstream: its mount path. Default `/api`. Not allowed together with `upstreams`. */
  mountPath?: string;
  /** Shorthand for one upstream: its base URL. Default: the built-in demo Orders API. */
  upstreamUrl?: string | null;
  /** Shorthand for one upstream: the operations when no OpenAPI document is set. Default: the demo Orders API's. */
  routes?: GatewayRoute[];
  /** Shorthand for one upstream: its OpenAPI document. Default: the demo document when the demo upstream runs. */
  openapi?: string | null;
  /** Shorthand for one upstream: request headers that never reach it (see UpstreamConfig). Default none. */
  dropRequestHeaders?: string[];
  /** Check requests against the OpenAPI documents' schemas. Default true. */
  validateRequests: boolean;
  tokenCache: TokenCacheConfig;
  /**
   * How long the gateway reuses the check that a grant, an OAuth client or
   * an API key is still active, in milliseconds: the maximum time that one
   * revoked by another process, such as the admin CLI, keeps working. 0
   * reads the store on every request. Default 1000, at most 60000.
   */
  revocationCheckTtlMs: number;
}

/**
 * Reuse of verified access tokens and of API key lookups, so that a
 * repeated credential skips its signature check or its store lookup. How
 * long a revocation check is reused is `revocationCheckTtlMs`.
 */
export interface TokenCacheConfig {
  /** Default true. */
  enabled: boolean;
  /** Maximum number of tokens, of API keys, and of grants and clients that each cache keeps. Default 10000. */
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

/** The delays of a failure throttle. */
export interface FailureDelays {
  /** How long failures are remembered after the last one. Default `15m`. */
  window: Duration;
  /** First delay past a threshold; it doubles with each further failure. Default `1s`. */
  baseDelay: Duration;
  /** Maximum delay. Default `15m`. */
  maxDelay: Duration;
}

export interface LoginProtection extends FailureDelays {
  /** Failed sign-ins per username from one client address before delays start. Default 5. */
  accountThreshold: number;
  /** Failed sign-ins per username from all addresses together before delays start. Default 50. */
  accountTotalThreshold: number;
  /** Failed sign-ins per client address before delays start. Default 20. */
  addressThreshold: number;
}

export interface ClientAuthenticationProtection extends FailureDelays {
  /** Failed client authentications per client id from one client address before delays start. Default 10. */
  clientThreshold: number;
  /**
   * Failed client authentications per client id from all addresses together
   * before delays start. It delays only addresses that have failed for that
   * client since their last success. Default 100.
   */
  clientTotalThreshold: number;
  /**
   * Failed client authentications per client address, across client ids,
   * before delays start. It delays requests whose client id is in the body,
   * and client ids that have failed from that address since their last
   * success. Default 50.
   */
  addressThreshold: number;
}

export interface RateLimitConfig {
  /** Counter store: `memory` for one instance, `redis` for several. Default `memory`. */
  store: 'memory' | 'redis';
  /** Redis URL for the `redis` store. Default `redis://127.0.0.1:6379`. */
  redisUrl: string;
  /** Maximum wait for the store before a limit's failure mode applies, in milliseconds. Default 250. */
  storeTimeoutMs: number;
  /** Maximum rate counters, and separately failure counters of sign-ins and client authentications, that the memory store keeps. A full store drops expired counters first and evicts the least recently used only when most are live. Default 100000. */
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
  /** Failed client authentications at the token, introspection, revocation and pushed authorization request endpoints. */
  clientAuthentication: ClientAuthenticationProtection;
}

export interface PortcullisConfig {
  /** Address to listen on. Default `127.0.0.1`: nothing outside the machine can connect. */
  host: string;
  /** TCP port to listen on, 1 to 65535. Default 8080. */
  port: number;
  /** The issuer identifier (RFC 8414). Default `http://127.0.0.1:<port>`. */
  issuer: string;
  /** Directory for the SQLite database and the server secret. Default `./data`. */
  dataDir: string;
  /**
   * The relational store: `sqlite:<path>` or a `postgres://` URL. Default
   * `sqlite:<dataDir>/portcullis.sqlite`.
   */
  database: string;
  /**
   * Redis URL (`redis://` or `rediss://`) for state shared by several
   * instances: sessions, interactions, authorization codes and rate-limit
   * counters. Default none: that state stays in this process and SQL, which
   * is right for one instance only.
   */
  redis: string | null;
  /** Treat `redis` as a seed node of a Redis Cluster. Default false. */
  redisCluster: boolean;
  /**
   * Prefix of every Redis key and channel, so that several deployments can
   * share one Redis without sharing counters or sessions. Default `portcullis:`.
   */
  redisKeyPrefix: string;
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
  /**
   * Maximum time for a client to send a whole request, head and body, in
   * milliseconds. A slower request gets 408 `request_timeout` and its
   * connection is closed. Default 30000.
   */
  requestTimeoutMs: number;
  /**
   * Maximum time a client connection may make no progress, in milliseconds,
   * before it is closed: no new request, no byte of a request being
   * received, no response byte taken by the client. Default the larger of
   * 120000 and 2 × `gateway.upstreamTimeoutMs` + 10000, so that a request
   * waiting on the upstream for its headers and then its checked body is not
   * cut off. It may not be shorter than `gateway.upstreamTimeoutMs`.
   */
  idleTimeoutMs: number;
  /**
   * How long a shutdown on SIGTERM or SIGINT waits for running requests,
   * in milliseconds, before it responds to the rest with 503 and closes their
   * connections. Default 10000.
   */
  shutdownTimeoutMs: number;
  /** Start the demo Orders API as the default upstream. Default true. */
  demo: boolean;
  rateLimit: RateLimitConfig;
  apiKeys: ApiKeysConfig;
  registration: RegistrationConfig;
  audit: AuditConfig;
  metrics: MetricsConfig;
}

export interface AuditConfig {
  /** How long audit events are kept in the store before the hourly purge deletes them. Default `90d`. */
  retention: Duration;
}

export interface MetricsConfig {
  /** Prometheus metrics at `GET /metrics` on a listener of its own, when true. Default false. */
  enabled: boolean;
  /** Address of the metrics listener. Default `127.0.0.1`, so only the machine itself can scrape. */
  host: string;
  /** TCP port of the metrics listener; 0 picks a free one. Default 9464. */
  port: number;
}

export interface RegistrationConfig {
  /** Let anyone create an account on the registration page. Default true. */
  enabled: boolean;
}

export interface ApiKeysConfig {
  /** How long a rotated key keeps working next to its successor, at most `90d`; `0` ends it at once. Default `24h`. */
  rotationGrace: Duration;
  /**
   * Maximum number of active keys (not revoked, not expired, and not past the
   * grace period of a rotation) that a user may hold when creating one
   * through the API. A rotation through the API may go one key over it,
   * and the admin CLI is exempt. Default 100.
   */
  maxActivePerOwner: number;
}

const seconds = (maximum: number) => ({ type: 'integer', minimum: 1, maximum });

const DURATION = {
  type: 'string',
  pattern: '^[1-9][0-9]{0,8}(ms|s|m|h|d)$',
  description: 'a duration: a whole number followed by ms, s, m, h or d, such as 500ms or 30s',
} as const;
/** The delay settings of a failure throttle, as {@link FailureDelays} declares them. */
const FAILURE_DELAY_PROPERTIES = { window: DURATION, baseDelay: DURATION, maxDelay: DURATION } as const;
const METHOD = { enum: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] } as const;
/** An operation's path as its OpenAPI template (`/orders/{id}`) or its Fastify route (`/orders/:id`). */
const ROUTE_PATH = {
  type: 'string',
  pattern: '^/[A-Za-z0-9._~:/{}-]*$',
  description: 'a path that starts with / and contains only letters, digits and . _ ~ : / { } -',
} as const;

const MOUNT_PATH = {
  type: 'string',
  pattern: '^/[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$',
  description: 'a path such as /api: one or more segments of letters, digits, . _ ~ or -, each after a /, and no / at the end',
} as const;
const SCOPES = {
  type: 'array',
  uniqueItems: true,
  items: {
    type: 'string',
    pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$',
    description: 'a scope: printable ASCII characters other than space, " and \\ (RFC 6749)',
  },
  default: [],
} as const;
const ROLES = { type: 'array', uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: 64 }, default: [] } as const;
const DATE_TIME = { type: 'string', format: 'date-time' } as const;
const HTTP_URL_TEXT = 'an http:// or https:// URL';
const REDIS_URL_TEXT = 'a redis:// or rediss:// URL';
const LINK = { type: 'string', format: 'uri', pattern: '^https?://', description: HTTP_URL_TEXT } as const;

const GATEWAY_ROUTES = {
  type: 'array',
  minItems: 1,
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['method', 'path', 'credentials'],
    properties: {
      method: METHOD,
      path: {
        type: 'string',
        pattern: '^/([A-Za-z0-9._~-]+|:[A-Za-z_][A-Za-z0-9_]*)(/([A-Za-z0-9._~-]+|:[A-Za-z_][A-Za-z0-9_]*))*$',
        description: 'a route such as /orders/:id: segments of letters, digits, . _ ~ or -, or a parameter written :name, each after a /',
      },
      scopes: SCOPES,
      roles: ROLES,
      credentials: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: ['jwt', 'api_key'] } },
    },
  },
} as const;

const LIFECYCLE_PROPERTIES = {
  deprecation: DATE_TIME,
  sunset: DATE_TIME,
  deprecationLink: LINK,
  sunsetLink: LINK,
} as const;

const OBJECT_BINDING = {
  type: 'object',
  additionalProperties: false,
  required: ['in', 'name', 'claim', 'match'],
  properties: {
    in: { enum: ['path', 'query', 'body'] },
    // A parameter name, or a JSON Pointer of up to 8 members for `body`.
    name: {
      type: 'string',
      pattern: '^([A-Za-z_][A-Za-z0-9_.-]{0,63}|(/([A-Za-z0-9_.$-]|~[01]){1,64}){1,8})$',
      description:
        'a parameter name (a letter or _, then up to 63 letters, digits, _ . or -), or for a body binding a JSON Pointer of 1 to 8 members such as /source/account',
    },
    claim: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$', description: 'a claim name: a letter or _, then up to 63 letters, digits, _ . : or -' },
    match: { enum: ['equals', 'oneOf'] },
    bypassRoles: ROLES,
  },
} as const;

const OPERATION_POLICY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    scopes: SCOPES,
    roles: ROLES,
    public: { type: 'boolean', default: false },
    bindings: { type: 'array', items: OBJECT_BINDING, default: [] },
    ...LIFECYCLE_PROPERTIES,
  },
} as const;

/** Header names (RFC 9110 tokens), each optionally ending in `*` for a prefix. */
const DROP_REQUEST_HEADERS = {
  type: 'array',
  maxItems: 100,
  uniqueItems: true,
  items: {
    type: 'string',
    pattern: "^[A-Za-z0-9!#$%&'+.^_`|~-]{1,64}[*]?$",
    description: 'a header name of 1 to 64 characters (an RFC 9110 token), optionally ending in * to name every header it starts',
  },
} as const;

const UPSTREAM = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'mountPath'],
  properties: {
    name: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,63}$', description: 'a name of 1 to 64 lower-case letters, digits, _ or -, starting with a letter or digit' },
    url: { type: ['string', 'null'], format: 'uri', pattern: '^https?://', description: HTTP_URL_TEXT, default: null },
    mountPath: MOUNT_PATH,
    openapi: { type: ['string', 'null'], minLength: 1, default: null },
    routes: { ...GATEWAY_ROUTES, minItems: 0, default: [] },
    operations: {
      type: 'object',
      default: {},
      propertyNames: { type: 'string', minLength: 1, maxLength: 256 },
      additionalProperties: OPERATION_POLICY,
    },
    identityAssertion: { type: 'boolean', default: true },
    dropRequestHeaders: { ...DROP_REQUEST_HEADERS, default: [] },
    ...LIFECYCLE_PROPERTIES,
  },
} as const;

const LIMIT_RULE_PROPERTIES = {
  name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$', description: 'a name of 1 to 64 letters, digits, _ . or -' },
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
    'clientAuthentication',
  ],
  properties: {
    store: { enum: ['memory', 'redis'] },
    redisUrl: { type: 'string', pattern: '^rediss?://', description: REDIS_URL_TEXT },
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
        ...FAILURE_DELAY_PROPERTIES,
      },
    },
    clientAuthentication: {
      type: 'object',
      additionalProperties: false,
      required: ['clientThreshold', 'clientTotalThreshold', 'addressThreshold', 'window', 'baseDelay', 'maxDelay'],
      properties: {
        clientThreshold: { type: 'integer', minimum: 1, maximum: 1000 },
        clientTotalThreshold: { type: 'integer', minimum: 1, maximum: 100_000 },
        addressThreshold: { type: 'integer', minimum: 1, maximum: 100_000 },
        ...FAILURE_DELAY_PROPERTIES,
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
  required: ['host', 'port', 'issuer', 'dataDir', 'database', 'redis', 'redisCluster', 'redisKeyPrefix', 'logLevel', 'audience', 'corsOrigins', 'tokens', 'gateway'],
  properties: {
    host: { type: 'string', minLength: 1 },
    // No 0: the issuer and the demo client's redirect URI name this port, so it must be known before listening.
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    issuer: { type: 'string', format: 'uri', pattern: '^https?://', description: HTTP_URL_TEXT },
    dataDir: { type: 'string', minLength: 1 },
    database: { type: 'string', pattern: '^(sqlite:.+|postgres(ql)?://.+)$', description: 'sqlite:<file> or a postgres:// or postgresql:// URL' },
    redis: { type: ['string', 'null'], pattern: '^rediss?://.+$', description: REDIS_URL_TEXT },
    redisCluster: { type: 'boolean' },
    // No braces: they would change the Redis Cluster hash slot of every key.
    redisKeyPrefix: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,64}$', description: '1 to 64 letters, digits, . _ : or -' },
    logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
    audience: { type: 'string', minLength: 1, maxLength: 2048 },
    corsOrigins: {
      type: 'array',
      uniqueItems: true,
      items: {
        type: 'string',
        pattern: '^https?://[^/?#@*\\s]+$',
        description: 'an origin such as https://app.example: http or https, a host and an optional port, with no path, user name or *',
      },
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
      required: ['clockToleranceSeconds', 'upstreamConnectTimeoutMs', 'upstreamTimeoutMs', 'upstreamConnections', 'upstreamQueueLimit', 'responseLimitBytes', 'relayTimeoutMs', 'upstreams', 'validateRequests', 'tokenCache', 'revocationCheckTtlMs'],
      properties: {
        clockToleranceSeconds: { type: 'integer', minimum: 0, maximum: 60 },
        upstreamConnectTimeoutMs: { type: 'integer', minimum: 100, maximum: 60_000 },
        upstreamTimeoutMs: { type: 'integer', minimum: 100, maximum: 300_000 },
        upstreamConnections: { type: 'integer', minimum: 1, maximum: 4096 },
        upstreamQueueLimit: { type: 'integer', minimum: 0, maximum: 100_000 },
        responseLimitBytes: { type: 'integer', minimum: 1024, maximum: 104_857_600 },
        relayTimeoutMs: { type: 'integer', minimum: 1000, maximum: 86_400_000 },
        upstreams: { type: 'array', items: UPSTREAM },
        mountPath: MOUNT_PATH,
        upstreamUrl: { type: ['string', 'null'], format: 'uri', pattern: '^https?://', description: HTTP_URL_TEXT },
        dropRequestHeaders: DROP_REQUEST_HEADERS,
        openapi: { type: ['string', 'null'], minLength: 1 },
        validateRequests: { type: 'boolean' },
        tokenCache: {
          type: 'object',
          additionalProperties: false,
          required: ['enabled', 'maxEntries'],
          properties: { enabled: { type: 'boolean' }, maxEntries: { type: 'integer', minimum: 1, maximum: 10_000_000 } },
        },
        revocationCheckTtlMs: { type: 'integer', minimum: 0, maximum: 60_000 },
        routes: GATEWAY_ROUTES,
      },
    },
    bodyLimitBytes: { type: 'integer', minimum: 1024, maximum: 104_857_600 },
    headerLimitBytes: { type: 'integer', minimum: 4096, maximum: 65_536 },
    requestTimeoutMs: { type: 'integer', minimum: 1000, maximum: 600_000 },
    idleTimeoutMs: { type: 'integer', minimum: 1000, maximum: 3_600_000 },
    shutdownTimeoutMs: { type: 'integer', minimum: 0, maximum: 600_000 },
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
      required: ['rotationGrace', 'maxActivePerOwner'],
      properties: {
        rotationGrace: {
          type: 'string',
          pattern: '^(0|[1-9][0-9]{0,8}(s|m|h|d))$',
          description: '0, or a whole number followed by s, m, h or d, such as 24h',
        },
        maxActivePerOwner: { type: 'integer', minimum: 1, maximum: 100_000 },
      },
    },
    audit: {
      type: 'object',
      additionalProperties: false,
      required: ['retention'],
      properties: {
        retention: { type: 'string', pattern: '^[1-9][0-9]{0,8}(m|h|d)$', description: 'a whole number followed by m, h or d, such as 90d' },
      },
    },
    metrics: {
      type: 'object',
      additionalProperties: false,
      required: ['enabled', 'host', 'port'],
      properties: {
        enabled: { type: 'boolean' },
        host: { type: 'string', minLength: 1 },
        port: { type: 'integer', minimum: 0, maximum: 65535 },
      },
    },
  },
} as const;
