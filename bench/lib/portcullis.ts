/**
 * Starting Portcullis for the benchmark and obtaining its credentials: a
 * JWT access token through the authorization code flow with openid-client,
 * and an API key created through the ApiKeyService as the CLI does.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { JSONWebKeySet } from 'jose';
import * as client from 'openid-client';
import { parse, stringify } from 'yaml';

import { openAdminContext } from '../../src/cli/context.js';
import { defaultRateLimits } from '../../src/config/load.js';
import { UserAgent, formEndingWith } from '../../scripts/lib/form-agent.js';
import { startProcess, waitForHttp } from './processes.js';
import { BENCH_ORIGIN } from './server-env.js';
import { freePort } from '../../test/support/server.js';

const REPOSITORY_ROOT = resolve(import.meta.dirname, '..', '..');

/** The account that the benchmark's token and API key belong to. */
const BENCH_USER = { username: 'bench', email: 'bench@example.com', password: 'Bench-Passw0rd-2026' };
/** Client id of the public demo client that Portcullis creates on first start. */
const DEMO_CLIENT_ID = 'portcullis-demo';
/** The maximum access token lifetime Portcullis accepts (one day), so the token outlives any run. */
const ACCESS_TOKEN_SECONDS = 86_400;
/**
 * The highest limit the configuration accepts for a one-second period (one
 * request per microsecond, the finest spacing the limiter keeps): no
 * benchmark load comes near it.
 */
export const UNREACHABLE_LIMIT_PER_SECOND = 1_000_000;


/** Settings that differ between the Portcullis instances of the benchmark. */
export interface PortcullisVariant {
  /** File name stem of the configuration, unique per instance. */
  name: string;
  store: 'memory' | 'redis';
  redisUrl: string;
  tokenCache: boolean;
  validateRequests: boolean;
  /** Sign an identity assertion for every forwarded request, as Portcullis does by default. */
  identityAssertion: boolean;
  /** Check responses against their declared schemas. When false, the document's responses declare no schema. */
  checkResponses: boolean;
}

type Operation = { responses?: Record<string, { content?: Record<string, { schema?: unknown }> }> };

const DEMO_DOCUMENT = join(REPOSITORY_ROOT, 'openapi/demo-orders.yaml');

/**
 * Writes a copy of the demo document whose responses declare their status
 * and media type but no schema, so that Portcullis relays their bodies
 * unchecked.
 */
async function writeDocumentWithoutResponseSchemas(directory: string): Promise<string> {
  const document = parse(readFileSync(DEMO_DOCUMENT, 'utf8')) as { paths: Record<string, Record<string, Operation>> };
  for (const pathItem of Object.values(document.paths)) {
    for (const operation of Object.values(pathItem)) {
      for (const response of Object.values(operation.responses ?? {})) {
        for (const media of Object.values(response.content ?? {})) {
          delete media.schema;
        }
      }
    }
  }
  const path = join(directory, 'demo-orders-without-response-schemas.yaml');
  await writeFile(path, stringify(document));
  return path;
}

/**
 * Writes a Portcullis configuration file with the per-address and sign-in limits raised
 * out of reach, request logging off (log level `warn`, since the comparison
 * stacks log nothing), the benchmark origin allowed for CORS and access
 * tokens that live a day. Returns its path.
 */
export async function writePortcullisConfig(directory: string, variant: PortcullisVariant, upstreamUrl: string): Promise<string> {
  const defaults = defaultRateLimits();
  const config = {
    logLevel: 'warn',
    corsOrigins: [BENCH_ORIGIN],
    tokens: { accessToken: ACCESS_TOKEN_SECONDS },
    gateway: {
      upstreams: [
        {
          name: 'bench',
          url: upstreamUrl,
          mountPath: '/api',
          // The demo document declares GET /orders, so requests and responses
          // are checked against it as they would be in front of the demo.
          openapi: variant.checkResponses ? DEMO_DOCUMENT : await writeDocumentWithoutResponseSchemas(directory),
          identityAssertion: variant.identityAssertion,
        },
      ],
      validateRequests: variant.validateRequests,
      tokenCache: { enabled: variant.tokenCache, maxEntries: 10_000 },
    },
    rateLimit: {
      store: variant.store,
      redisUrl: variant.redisUrl,
      global: { ...defaults.global, limit: UNREACHABLE_LIMIT_PER_SECOND, period: '1s' },
      // The rotation scenario's tokens come from as many authorization requests.
      signIn: { ...defaults.signIn, limit: UNREACHABLE_LIMIT_PER_SECOND, period: '1s' },
    },
  };
  const path = join(directory, `portcullis-${variant.name}.yaml`);
  await writeFile(path, stringify(config));
  return path;
}

/** Compiles Portcullis to `dist/`, so the benchmark measures it without a TypeScript loader. */
export async function buildPortcullis(root: string): Promise<void> {
  const result = spawnSync('npm', ['run', 'build'], { cwd: root, encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`npm run build failed:\n${result.stdout}${result.stderr}`);
  }
}

export interface StartPortcullisOptions {
  variant: PortcullisVariant;
  /** Core to pin the process to, or undefined for none. */
  cores: number | undefined;
  directory: string;
  dataDir: string;
  upstreamUrl: string;
  /** Shared by all instances, so that one token works on all of them; the instance's own URL when undefined. */
  issuer?: string;
  /** Directory for a V8 CPU profile written on exit, or undefined for none. */
  profileDirectory: string | undefined;
  /** Node.js or V8 options put before the CLI, none by default. */
  nodeOptions?: string[];
  /** Directory that receives the instance's output as `portcullis-<variant>.log`, or undefined for none. */
  logDirectory?: string;
  startTimeoutMs: number;
}

export interface StartedPortcullis {
  url: string;
  issuer: string;
  /** Process id of the instance. */
  pid: number | undefined;
  /** Resident set size of the process, in bytes, from /proc. */
  residentSetSize(): number;
}

/** Starts `portcullis start` from `dist/` with the variant's configuration and waits until it responds. */
export async function startBenchPortcullis(options: StartPortcullisOptions): Promise<StartedPortcullis> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const issuer = options.issuer ?? url;
  const profile = options.profileDirectory === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', options.profileDirectory, '--cpu-prof-name', `portcullis-${options.variant.name}.cpuprofile`];
  const managed = startProcess({
    name: `Portcullis (${options.variant.name})`,
    command: process.execPath,
    args: [...profile, ...(options.nodeOptions ?? []), join(REPOSITORY_ROOT, 'dist/cli/main.js'), 'start'],
    env: {
      ...process.env,
      NODE_ENV: 'production',
      PORTCULLIS_CONFIG: await writePortcullisConfig(options.directory, options.variant, options.upstreamUrl),
      PORTCULLIS_DATA_DIR: options.dataDir,
      PORTCULLIS_PORT: String(port),
      PORTCULLIS_HOST: '127.0.0.1',
      PORTCULLIS_ISSUER: issuer,
    },
    core: options.cores,
    logFile: options.logDirectory === undefined ? undefined : join(options.logDirectory, `portcullis-${options.variant.name}.log`),
  });
  await waitForHttp(managed, `${url}/`, options.startTimeoutMs);

  // A deployed instance serves OAuth requests besides the gateway's, so
  // every instance here serves one before the load, including those whose
  // tokens come from another instance.
  const discovery = await fetch(`${url}/.well-known/openid-configuration`);
  if (!discovery.ok) {
    throw new Error(`Portcullis (${options.variant.name}) returned HTTP ${discovery.status} for its discovery document`);
  }

  const pid = managed.child.pid;
  return { url, issuer, pid, residentSetSize: () => (pid === undefined ? Number.NaN : residentSetSize(pid)) };
}

/** Reads VmRSS of a process from /proc, in bytes. */
export function residentSetSize(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kilobytes = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kilobytes === undefined) {
    throw new Error(`/proc/${pid}/status has no VmRSS line`);
  }
  return Number(kilobytes) * 1024;
}

export interface BenchCredentials {
  accessToken: string;
  /** Further access tokens of the same account, each from its own authorization code flow. */
  rotatingTokens: string[];
  apiKey: string;
  /** The signing keys published at /.well-known/jwks.json. */
  jwks: JSONWebKeySet;
}

async function signIn(agent: UserAgent, authorizationUrl: URL, redirectUri: string): Promise<URL> {
  let page = await agent.follow(authorizationUrl.href, redirectUri);
  for (let step = 0; step < 4; step += 1) {
    if (page.url.startsWith(`${redirectUri}?`)) {
      return new URL(page.url);
    }
    const html = await page.response.text();
    if (html.includes('/login"')) {
      page = await agent.submit(formEndingWith(html, '/login'), { username: BENCH_USER.username, password: BENCH_USER.password }, redirectUri);
    } else if (html.includes('/confirm"')) {
      page = await agent.submit(formEndingWith(html, '/confirm'), {}, redirectUri);
    } else {
      throw new Error(`unexpected page (HTTP ${page.response.status}) at ${page.url} during sign-in`);
    }
  }
  throw new Error('the authorization flow did not reach the redirect URI');
}

/** Flows run at once while collecting rotating tokens. */
const PARALLEL_FLOWS = 8;

/**
 * Runs the authorization code flow with PKCE for an access token with the
 * `orders:read` scope. After the first sign-in, the agent's session cookie
 * lets the flow reach the redirect URI without the login page.
 */
async function authorizationCodeToken(configuration: client.Configuration, agent: UserAgent, issuer: string): Promise<string> {
  const redirectUri = `${issuer}/demo/callback`;
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const authorizationUrl = client.buildAuthorizationUrl(configuration, {
    redirect_uri: redirectUri,
    scope: 'openid orders:read',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
  });
  const callbackUrl = await signIn(agent, authorizationUrl, redirectUri);
  const tokens = await client.authorizationCodeGrant(configuration, callbackUrl, { pkceCodeVerifier: codeVerifier, expectedState: state });
  return tokens.access_token;
}

/**
 * Creates the benchmark account and an `orders:read` API key in the data
 * directory of a running Portcullis, then obtains `1 + rotatingTokenCount`
 * access tokens through the authorization code flow.
 */
export async function obtainCredentials(issuer: string, dataDir: string, rotatingTokenCount: number): Promise<BenchCredentials> {
  const admin = await openAdminContext(dataDir);
  let apiKey: string;
  try {
    const account = await admin.accountService.register(BENCH_USER);
    const created = await admin.apiKeyService.create(account, { name: 'bench', scopes: ['orders:read'] });
    apiKey = created.value;
  } finally {
    await admin.close();
  }

  const configuration = await client.discovery(new URL(issuer), DEMO_CLIENT_ID, undefined, client.None(), {
    execute: [client.allowInsecureRequests],
  });
  const agent = new UserAgent(issuer);
  const accessToken = await authorizationCodeToken(configuration, agent, issuer);

  const rotatingTokens: string[] = [];
  while (rotatingTokens.length < rotatingTokenCount) {
    const batch = Math.min(PARALLEL_FLOWS, rotatingTokenCount - rotatingTokens.length);
    rotatingTokens.push(...(await Promise.all(Array.from({ length: batch }, () => authorizationCodeToken(configuration, agent, issuer)))));
  }

  const jwksResponse = await fetch(`${issuer}/.well-known/jwks.json`);
  if (!jwksResponse.ok) {
    throw new Error(`fetching ${issuer}/.well-known/jwks.json failed with HTTP ${jwksResponse.status}`);
  }
  return { accessToken, rotatingTokens, apiKey, jwks: (await jwksResponse.json()) as JSONWebKeySet };
}
