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

export interface GatewayConfig {
  /** Path prefix under which the gateway proxies to the upstream. Default `/api`. */
  mountPath: string;
  /** Base URL of the upstream. Default: the built-in demo Orders API. */
  upstreamUrl: string | null;
  /** Allowed clock difference when checking `exp` and `nbf`, in seconds. Default 5, at most 60. */
  clockToleranceSeconds: number;
  /** Upstream response timeout, in milliseconds. Default 30000. */
  upstreamTimeoutMs: number;
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
}

const seconds = (maximum: number) => ({ type: 'integer', minimum: 1, maximum });

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
      required: ['mountPath', 'upstreamUrl', 'clockToleranceSeconds', 'upstreamTimeoutMs'],
      properties: {
        mountPath: { type: 'string', pattern: '^/[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$' },
        upstreamUrl: { type: ['string', 'null'], format: 'uri', pattern: '^https?://' },
        clockToleranceSeconds: { type: 'integer', minimum: 0, maximum: 60 },
        upstreamTimeoutMs: { type: 'integer', minimum: 100, maximum: 300_000 },
      },
    },
    bodyLimitBytes: { type: 'integer', minimum: 1024, maximum: 104_857_600 },
    headerLimitBytes: { type: 'integer', minimum: 4096, maximum: 65_536 },
    demo: { type: 'boolean' },
  },
} as const;
