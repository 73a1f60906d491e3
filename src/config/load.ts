import { resolve } from 'node:path';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';

import { CONFIG_SCHEMA, type PortcullisConfig } from './schema.js';

// ajv-formats is published as CommonJS with the plugin on `default`.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/** Options given on the command line; each one wins over its environment variable. */
export interface ConfigOverrides {
  host?: string;
  port?: number;
  issuer?: string;
  dataDir?: string;
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

function readEnvironment(env: Environment, problems: string[]): ConfigOverrides {
  const fromEnv: ConfigOverrides = {};
  const assign = <K extends keyof ConfigOverrides>(key: K, value: ConfigOverrides[K] | undefined) => {
    if (value !== undefined) {
      fromEnv[key] = value;
    }
  };

  assign('host', env['PORTCULLIS_HOST'] || undefined);
  assign('port', parseInteger('PORTCULLIS_PORT', env['PORTCULLIS_PORT'], problems));
  assign('issuer', env['PORTCULLIS_ISSUER'] || undefined);
  assign('dataDir', env['PORTCULLIS_DATA_DIR'] || undefined);
  assign('logLevel', env['PORTCULLIS_LOG_LEVEL'] || undefined);
  assign('corsOrigins', parseList(env['PORTCULLIS_CORS_ORIGINS']));
  assign('upstreamUrl', env['PORTCULLIS_UPSTREAM_URL'] || undefined);
  assign('demo', parseBoolean('PORTCULLIS_DEMO', env['PORTCULLIS_DEMO'], problems));

  return fromEnv;
}

function withoutTrailingSlash(url: string): string {
  return url.endsWith('/') ? url.slice(0, -1) : url;
}

function buildConfig(options: ConfigOverrides): PortcullisConfig {
  const port = options.port ?? 8080;
  const issuer = withoutTrailingSlash(options.issuer ?? `http://127.0.0.1:${port}`);

  return {
    host: options.host ?? '127.0.0.1',
    port,
    issuer,
    dataDir: resolve(options.dataDir ?? 'data'),
    logLevel: (options.logLevel ?? 'info') as PortcullisConfig['logLevel'],
    audience: `${issuer}/api`,
    corsOrigins: options.corsOrigins ?? [],
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
      upstreamUrl: options.upstreamUrl ?? null,
      clockToleranceSeconds: 5,
      upstreamTimeoutMs: 30_000,
    },
    bodyLimitBytes: 1_048_576,
    headerLimitBytes: 16_384,
    demo: options.demo ?? true,
  };
}

/** Checks rules that JSON Schema cannot express; returns one message per violation. */
function checkSemantics(config: PortcullisConfig): string[] {
  const problems: string[] = [];

  const issuer = URL.parse(config.issuer);
  if (issuer !== null && (issuer.search !== '' || issuer.hash !== '')) {
    problems.push('issuer: must not contain a query or fragment (RFC 8414 section 2)');
  }

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

const ajv = new Ajv({ allErrors: true, strict: true });
addFormats(ajv);
const validate = ajv.compile(CONFIG_SCHEMA);

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
  const config = buildConfig({ ...fromEnv, ...definedOverrides });

  if (!validate(config)) {
    for (const error of validate.errors ?? []) {
      const path = error.instancePath === '' ? '(root)' : error.instancePath.slice(1);
      problems.push(`${path}: ${error.message ?? 'is invalid'}`);
    }
  }

  problems.push(...checkSemantics(config));

  if (problems.length > 0) {
    throw new ConfigError(problems);
  }

  return deepFreeze(config);
}

function deepFreeze<T extends object>(value: T): Readonly<T> {
  for (const child of Object.values(value)) {
    if (child !== null && typeof child === 'object') {
      deepFreeze(child as object);
    }
  }

  return Object.freeze(value);
}
