import * as client from 'openid-client';

import type { TestServer } from './server.js';
import { UserAgent, formEndingWith } from './user-agent.js';

export const API_SCOPE = 'openid profile email offline_access orders:read orders:write';

/** The PKCE verifier and S256 challenge from RFC 7636 appendix B. */
export const PKCE_VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
export const PKCE_CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

/**
 * Builds an authorization request URL for the demo client with PKCE. A
 * parameter set to undefined is left out, so tests can drop any of them.
 */
export function authorizationUrl(server: TestServer, params: Record<string, string | undefined>): string {
  const url = new URL('/oauth/authorize', server.url);
  const defaults: Record<string, string | undefined> = {
    client_id: server.demoClientId,
    response_type: 'code',
    redirect_uri: server.demoRedirectUri,
    scope: API_SCOPE,
    state: 'state-1',
    code_challenge: PKCE_CHALLENGE,
    code_challenge_method: 'S256',
  };
  for (const [name, value] of Object.entries({ ...defaults, ...params })) {
    if (value !== undefined) {
      url.searchParams.set(name, value);
    }
  }
  return url.href;
}

/**
 * Returns the endpoints of the client-authenticating requests, for
 * openid-client configurations built without discovery.
 */
export function clientEndpointMetadata(server: TestServer): client.ServerMetadata {
  return {
    issuer: server.issuer,
    token_endpoint: `${server.issuer}/oauth/token`,
    introspection_endpoint: `${server.issuer}/oauth/introspect`,
    revocation_endpoint: `${server.issuer}/oauth/revoke`,
    pushed_authorization_request_endpoint: `${server.issuer}/oauth/par`,
    authorization_endpoint: `${server.issuer}/oauth/authorize`,
  };
}

/** Discovers the server with openid-client as a public client (PKCE, no secret). */
export async function publicClient(server: TestServer, clientId = server.demoClientId): Promise<client.Configuration> {
  return client.discovery(new URL(server.issuer), clientId, undefined, client.None(), {
    execute: [client.allowInsecureRequests],
  });
}

/**
 * Builds an authorization request of `config`'s client with openid-client:
 * PKCE with S256, a random state, and `parameters` added or overriding the
 * scope. Returns the URL with the verifier and state that redeem its code.
 */
export async function pkceAuthorizationRequest(
  config: client.Configuration,
  redirectUri: string,
  parameters: Record<string, string> = {},
): Promise<{ url: URL; verifier: string; state: string }> {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid orders:read',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    ...parameters,
  });
  return { url, verifier, state };
}

export interface AuthorizationOptions {
  username: string;
  password: string;
  scope?: string;
  redirectUri?: string;
  agent?: UserAgent;
}

export interface AuthorizationResult {
  callbackUrl: URL;
  /** The server's response whose Location header is `callbackUrl`, not followed. */
  redirect: Response;
  codeVerifier: string;
  state: string;
  agent: UserAgent;
}

/**
 * Runs the front-channel part of the authorization code flow: builds the
 * request with openid-client, then signs in and consents through the pages
 * as a browser would. Returns the redirect to the client's callback.
 */
export async function authorize(server: TestServer, config: client.Configuration, options: AuthorizationOptions): Promise<AuthorizationResult> {
  const agent = options.agent ?? new UserAgent(server.url);
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const authorizationUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: options.redirectUri ?? server.demoRedirectUri,
    scope: options.scope ?? API_SCOPE,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
  });

  const redirectUri = options.redirectUri ?? server.demoRedirectUri;
  let page = await agent.follow(authorizationUrl.href, redirectUri);
  for (let step = 0; step < 4; step += 1) {
    if (page.url.startsWith(`${redirectUri}?`)) {
      return { callbackUrl: new URL(page.url), redirect: page.response, codeVerifier, state, agent };
    }

    const html = await page.response.text();
    if (html.includes('/login"')) {
      page = await agent.submit(formEndingWith(html, '/login'), { username: options.username, password: options.password }, redirectUri);
    } else if (html.includes('/confirm"')) {
      page = await agent.submit(formEndingWith(html, '/confirm'), {}, redirectUri);
    } else {
      throw new Error(`unexpected page (${page.response.status}) at ${page.url}:\n${html.slice(0, 1500)}`);
    }
  }

  throw new Error('the authorization flow did not reach the redirect URI');
}

/** Starts an authorization request in a fresh user agent and returns the sign-in page. */
export async function openSignInPage(
  server: TestServer,
  scope = 'openid orders:read',
  headers: Record<string, string> = {},
): Promise<{ agent: UserAgent; html: string }> {
  const config = await publicClient(server);
  const agent = new UserAgent(server.url, headers);
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: server.demoRedirectUri,
    scope,
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  const page = await agent.follow(url.href);
  return { agent, html: await page.response.text() };
}

/** Runs the whole authorization code flow with PKCE and returns the token response. */
export async function obtainTokens(
  server: TestServer,
  options: AuthorizationOptions,
  config?: client.Configuration,
): Promise<{ tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers; config: client.Configuration }> {
  const configuration = config ?? (await publicClient(server));
  const { callbackUrl, codeVerifier, state } = await authorize(server, configuration, options);
  const tokens = await client.authorizationCodeGrant(configuration, callbackUrl, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
  });
  return { tokens, config: configuration };
}

/** Calls the API through the gateway with a bearer token. */
export async function callApi(server: TestServer, path: string, token: string | undefined, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (token !== undefined) {
    headers.set('authorization', `Bearer ${token}`);
  }
  return fetch(`${server.url}/api${path}`, { ...init, headers });
}
