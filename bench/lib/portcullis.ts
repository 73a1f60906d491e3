/**
 * Starting Portcullis for the benchmark and obtaining its credentials: a
 * JWT access token through the authorization code flow with openid-client,
 * and an API key created through the ApiKeyService as the CLI does.
 */
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { JSONWebKeySet } from 'jose';
import * as client from 'openid-client';
import { stringify } from 'yaml';

import { openAdminContext } from '../../src/cli/context.js';
import { defaultRateLimits } from '../../src/config/load.js';
import { UserAgent, formEndingWith } from '../../scripts/lib/form-agent.js';
import { BENCH_ORIGIN } from './server-env.js';

/** The account that the benchmark's token and API key belong to. */
const BENCH_USER = { username: 'bench', email: 'bench@example.com', password: 'Bench-Passw0rd-2026' };
/** Client id of the public demo client that Portcullis creates on first start. */
const DEMO_CLIENT_ID = 'portcullis-demo';
/** The maximum access token lifetime Portcullis accepts (one day), so the token outlives any run. */
const ACCESS_TOKEN_SECONDS = 86_400;
/** The highest limit the configuration schema accepts, per second: no benchmark load comes near it. */
const UNREACHABLE_LIMIT_PER_SECOND = 1_000_000_000;

/** Finds a free loopback port, so that the issuer URL can name it before the server starts. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Writes a Portcullis configuration file with the per-address limit raised
 * out of reach, request logging off (log level `warn`, since the comparison
 * stacks log nothing), the benchmark origin allowed for CORS and access
 * tokens that live a day. Returns its path.
 */
export async function writePortcullisConfig(directory: string, store: 'memory' | 'redis', redisUrl: string): Promise<string> {
  const defaults = defaultRateLimits();
  const config = {
    logLevel: 'warn',
    corsOrigins: [BENCH_ORIGIN],
    tokens: { accessToken: ACCESS_TOKEN_SECONDS },
    rateLimit: {
      store,
      redisUrl,
      global: { ...defaults.global, limit: UNREACHABLE_LIMIT_PER_SECOND, period: '1s' },
    },
  };
  const path = join(directory, `portcullis-${store}.yaml`);
  await writeFile(path, stringify(config));
  return path;
}

export interface BenchCredentials {
  accessToken: string;
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

/**
 * Creates the benchmark account and an `orders:read` API key in the data
 * directory of a running Portcullis, then runs the authorization code flow
 * with PKCE for an access token with the `orders:read` scope.
 */
export async function obtainCredentials(issuer: string, dataDir: string): Promise<BenchCredentials> {
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
  const callbackUrl = await signIn(new UserAgent(issuer), authorizationUrl, redirectUri);
  const tokens = await client.authorizationCodeGrant(configuration, callbackUrl, { pkceCodeVerifier: codeVerifier, expectedState: state });

  const jwksResponse = await fetch(`${issuer}/.well-known/jwks.json`);
  if (!jwksResponse.ok) {
    throw new Error(`fetching ${issuer}/.well-known/jwks.json failed with HTTP ${jwksResponse.status}`);
  }
  return { accessToken: tokens.access_token, apiKey, jwks: (await jwksResponse.json()) as JSONWebKeySet };
}
