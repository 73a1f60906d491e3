import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { runCli } from '../support/cli.js';
import { PKCE_CHALLENGE, authorizationUrl, obtainTokens, publicClient } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * A user-facing client registered with `--scope` may get only those scopes,
 * like a client credentials client, whatever the user's roles allow.
 */
describe('allowed scopes of an authorization code client', () => {
  let server: TestServer;
  let clientId: string;
  let admin: { username: string; password: string };

  beforeAll(async () => {
    server = await startTestServer();
    const result = await runCli([
      'clients', 'add', '--name', 'Read-only app', '--json', '--data-dir', server.dataDir,
      '--public', '--redirect-uri', server.demoRedirectUri, '--scope', 'openid', '--scope', 'orders:read',
    ]);
    expect(result.code, result.stderr).toBe(0);
    clientId = (JSON.parse(result.stdout) as { client_id: string }).client_id;
    admin = await createUser(server, 'scoped_admin', ['admin']);
  });

  afterAll(async () => {
    await server?.close();
  });

  it('issues an allowed scope', async () => {
    const config = await publicClient(server, clientId);
    const { tokens } = await obtainTokens(server, { ...admin, scope: 'openid orders:read' }, config);

    expect(decodeJwt(tokens.access_token)['scope']).toBe('orders:read');
  });

  it('rejects other scopes', async () => {
    for (const scope of ['openid orders:read orders:write', 'openid admin', 'openid email orders:read', 'openid profile']) {
      const response = await fetch(authorizationUrl(server, { client_id: clientId, scope }), { redirect: 'manual' });
      const location = new URL(response.headers.get('location') ?? '', server.url);

      expect(response.status, scope).toBe(303);
      expect(location.href.startsWith(`${server.demoRedirectUri}?`), scope).toBe(true);
      expect(location.searchParams.get('error'), scope).toBe('invalid_scope');
      expect(location.searchParams.get('code'), scope).toBeNull();
    }
  });

  it('rejects an explicit resource too', async () => {
    const response = await fetch(authorizationUrl(server, { client_id: clientId, scope: 'openid orders:write', resource: `${server.issuer}/api` }), { redirect: 'manual' });
    const location = new URL(response.headers.get('location') ?? '', server.url);

    expect(location.searchParams.get('error')).toBe('invalid_scope');
    expect(location.searchParams.get('code')).toBeNull();
  });

  it('rejects them in a pushed request', async () => {
    const response = await fetch(`${server.url}/oauth/par`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: clientId,
        response_type: 'code',
        redirect_uri: server.demoRedirectUri,
        scope: 'openid orders:write',
        code_challenge: PKCE_CHALLENGE,
        code_challenge_method: 'S256',
      }),
    });

    expect(response.status).toBe(400);
    expect(((await response.json()) as { error?: string }).error).toBe('invalid_scope');
  });

  it('leaves clients without a list alone', async () => {
    const { tokens } = await obtainTokens(server, { ...admin, scope: 'openid orders:read orders:write admin' });

    expect(String(decodeJwt(tokens.access_token)['scope']).split(' ').sort()).toEqual(['admin', 'orders:read', 'orders:write']);
  });
});
