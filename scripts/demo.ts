/**
 * Walks through the authorization code flow with PKCE against a running
 * Portcullis, printing each step: discovery, sign-in and consent, token
 * exchange, API calls through the gateway, refresh and revocation.
 *
 * Usage: npm run demo -- --username <name> [--client-id <id>] [--redirect-uri <uri>]
 *                        [--issuer <url>] [--read-order <id>] [--save-token <file>]
 * The password is read from PORTCULLIS_DEMO_PASSWORD, the first line of piped standard
 * input, or a prompt without echo at a terminal.
 * With --save-token, the access token is written to the file (mode 0600) and
 * the grant stays in place instead of being revoked at the end.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';

import { readSecret } from '../src/cli/stdin.js';
import { UserAgent, formEndingWith } from './lib/form-agent.js';

const { values } = parseArgs({
  options: {
    username: { type: 'string' },
    'client-id': { type: 'string', default: 'portcullis-demo' },
    'redirect-uri': { type: 'string' },
    issuer: { type: 'string', default: process.env['PORTCULLIS_ISSUER'] ?? 'http://127.0.0.1:8080' },
    'read-order': { type: 'string' },
    'save-token': { type: 'string' },
  },
});

function step(title: string, details: Record<string, unknown> = {}): void {
  process.stdout.write(`\n== ${title}\n`);
  for (const [name, value] of Object.entries(details)) {
    process.stdout.write(`   ${name}: ${typeof value === 'string' ? value : JSON.stringify(value)}\n`);
  }
}

function abbreviate(secret: string): string {
  return `${secret.slice(0, 12)}… (${secret.length} characters)`;
}

async function readPassword(username: string): Promise<string> {
  const fromEnvironment = process.env['PORTCULLIS_DEMO_PASSWORD'];
  if (fromEnvironment !== undefined && fromEnvironment !== '') {
    return fromEnvironment;
  }

  // At a terminal this prompts without echo, so the demo does not wait in silence.
  return readSecret(`Password for ${username}: `);
}

async function callApi(issuer: string, method: string, path: string, token: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${issuer}/api${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? null : JSON.stringify(body),
  });
  const text = await response.text();
  const parsed: unknown = text === '' ? null : JSON.parse(text);
  step(`${method} /api${path} -> ${response.status}`, { body: parsed });
  return parsed;
}

/** Removes the tags from an HTML fragment and decodes the entities that the pages' escaping writes. */
function plainText(fragment: string | undefined): string {
  return (fragment ?? '')
    .replace(/<[^>]*>/g, '')
    .replace(/&#39;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .trim();
}

/** Returns the text of a page's notice and of the paragraph after it, or undefined when the page has no notice. */
function noticeOf(html: string): string | undefined {
  const match = /<p class="notice"[^>]*>(.*?)<\/p>\s*(?:<p>(.*?)<\/p>)?/s.exec(html);
  if (match === null) {
    return undefined;
  }
  return [plainText(match[1]), plainText(match[2])].filter((part) => part !== '').join(': ');
}

async function signIn(agent: UserAgent, authorizationUrl: URL, redirectUri: string, username: string, password: string): Promise<URL> {
  let page = await agent.follow(authorizationUrl.href, redirectUri);

  for (let attempt = 0; attempt < 4; attempt += 1) {
    if (page.url.startsWith(`${redirectUri}?`)) {
      return new URL(page.url);
    }

    const html = await page.response.text();
    const notice = noticeOf(html);
    if (html.includes('/login"') && notice === undefined) {
      step('Sign-in page: submitting the login form', { page: page.url });
      page = await agent.submit(formEndingWith(html, '/login'), { username, password }, redirectUri);
    } else if (html.includes('/confirm"')) {
      step('Consent page: allowing the requested scopes', { page: page.url });
      page = await agent.submit(formEndingWith(html, '/confirm'), {}, redirectUri);
    } else {
      // The sign-in page shows a notice after a wrong password or while
      // sign-ins are throttled, and the error page names the OAuth error,
      // such as a redirect URI that the client did not register.
      throw new Error(`sign-in failed: ${notice ?? `HTTP ${page.response.status} from ${page.url}`}`);
    }
  }

  throw new Error('the authorization flow did not reach the redirect URI');
}

async function main(): Promise<void> {
  const username = values.username;
  if (username === undefined) {
    throw new Error('--username is required');
  }
  // An unset shell variable, as in `--client-id "$CLIENT_ID"` in a new
  // terminal, arrives as an empty string.
  if (values['client-id'] === '') {
    throw new Error("--client-id is empty: pass the client_id that 'npx portcullis clients add' printed, or omit the option for portcullis-demo");
  }

  const issuer = values.issuer.replace(/\/$/, '');
  const redirectUri = values['redirect-uri'] ?? `${issuer}/demo/callback`;
  const password = await readPassword(username);
  // Checked before sign-in, because an empty password would count as a
  // failed sign-in against the account's throttle.
  if (password === '') {
    throw new Error('no password given: set PORTCULLIS_DEMO_PASSWORD, type it at the prompt, or pipe it as the first line of standard input');
  }

  const config = await client
    .discovery(new URL(issuer), values['client-id'], undefined, client.None(), {
      execute: [client.allowInsecureRequests],
    })
    .catch((error: unknown) => {
      const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
      throw new Error(
        `discovery at ${issuer} failed (${error instanceof Error ? error.message : String(error)}${cause}). ` +
          'Check that Portcullis is running there (npm start), or pass its URL with --issuer',
      );
    });
  const metadata = config.serverMetadata();
  step('Discovered the authorization server', {
    issuer: metadata.issuer,
    authorization_endpoint: metadata.authorization_endpoint,
    token_endpoint: metadata.token_endpoint,
  });

  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const authorizationUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid profile email orders:read orders:write',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
  });
  step('Built the authorization request with a PKCE S256 challenge', { url: authorizationUrl.href });

  const callbackUrl = await signIn(new UserAgent(issuer), authorizationUrl, redirectUri, username, password);
  step('Redirected back to the client', {
    code: abbreviate(callbackUrl.searchParams.get('code') ?? ''),
    iss: callbackUrl.searchParams.get('iss'),
  });

  const tokens = await client.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: codeVerifier, expectedState: state });
  const claims = decodeJwt(tokens.access_token);
  step('Exchanged the code for tokens', {
    token_type: tokens.token_type,
    expires_in: tokens.expires_in,
    scope: tokens.scope,
    access_token: abbreviate(tokens.access_token),
    'access token claims': { iss: claims.iss, aud: claims.aud, sub: claims.sub, scope: claims['scope'], roles: claims['roles'] },
    refresh_token: tokens.refresh_token === undefined ? 'none' : abbreviate(tokens.refresh_token),
  });

  const order = (await callApi(issuer, 'POST', '/orders', tokens.access_token, { item: 'demo lantern', quantity: 1 })) as { id?: string };
  await callApi(issuer, 'GET', '/orders?limit=5', tokens.access_token);
  if (order.id !== undefined) {
    step('Your new order id (another user reading it gets 404)', { id: order.id });
  }
  if (values['read-order'] !== undefined) {
    await callApi(issuer, 'GET', `/orders/${encodeURIComponent(values['read-order'])}`, tokens.access_token);
  }

  const tokenFile = values['save-token'];
  if (tokenFile !== undefined) {
    await writeFile(tokenFile, `${tokens.access_token}\n`, { mode: 0o600 });
    step('Saved the access token; the grant stays in place until it is revoked or expires', { file: tokenFile, expires_in: tokens.expires_in });
    return;
  }

  if (tokens.refresh_token !== undefined) {
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    step('Refreshed: the refresh token rotated', {
      'new refresh token differs': refreshed.refresh_token !== tokens.refresh_token,
    });

    await client.tokenRevocation(config, refreshed.refresh_token ?? '');
    step('Revoked the refresh token, which revokes the whole grant');
    await callApi(issuer, 'GET', '/orders', refreshed.access_token);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
