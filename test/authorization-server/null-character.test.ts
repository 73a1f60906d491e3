import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { AuditRepository } from '../../src/store/audit-repository.js';
import { createUser } from '../support/accounts.js';
import { DIALECTS, type TestDatabase } from '../support/databases.js';
import { PKCE_VERIFIER, authorizationUrl, openSignInPage } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { formEndingWith } from '../support/user-agent.js';

/**
 * Codes, tokens, client ids and usernames with U+0000, which PostgreSQL
 * cannot store in text. They match nothing, so they get the responses of
 * unknown values on either database, never a server error.
 */

const WITH_NULL = 'a\u0000b';

function form(body: Record<string, string>, headers: Record<string, string> = {}): RequestInit {
  return { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(body) };
}

function basic(clientId: string, secret: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}` };
}

describe.each(DIALECTS)('U+0000 in OAuth parameters on $name', ({ create }) => {
  let database: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    database = await create();
    server = await startTestServer({ databaseUrl: database.url });
  });

  afterAll(async () => {
    await server.close();
    await database.drop();
  });

  function serverErrors(): string[] {
    return server.logs.filter((line) => (JSON.parse(line) as { level: number }).level >= 50);
  }

  it('responds as to an unknown value', async () => {
    const codeExchange = { grant_type: 'authorization_code', redirect_uri: server.demoRedirectUri, code_verifier: PKCE_VERIFIER };
    const requests: Array<[string, string, RequestInit, number]> = [
      ['client_id at the token endpoint', '/oauth/token', form({ ...codeExchange, code: 'unknown', client_id: WITH_NULL }), 401],
      ['client id in Basic', '/oauth/token', form({ grant_type: 'client_credentials', scope: 'orders:read' }, basic(WITH_NULL, 'secret')), 401],
      ['code', '/oauth/token', form({ ...codeExchange, code: WITH_NULL, client_id: server.demoClientId }), 400],
      ['refresh token', '/oauth/token', form({ grant_type: 'refresh_token', refresh_token: WITH_NULL, client_id: server.demoClientId }), 400],
      ['introspected token', '/oauth/introspect', form({ token: WITH_NULL, client_id: server.demoClientId }), 200],
      ['revoked token', '/oauth/revoke', form({ token: WITH_NULL, client_id: server.demoClientId }), 200],
      ['client_id of a pushed request', '/oauth/par', form({ client_id: WITH_NULL, response_type: 'code', scope: 'openid' }), 401],
      ['client_id at the authorization endpoint', authorizationUrl(server, { client_id: WITH_NULL }), {}, 400],
      ['client_id at sign-out', `/oauth/logout?client_id=${encodeURIComponent(WITH_NULL)}`, {}, 400],
    ];

    for (const [name, target, init, status] of requests) {
      const response = await fetch(new URL(target, server.url), { ...init, redirect: 'manual' });
      expect(response.status, name).toBe(status);
    }
    expect(serverErrors()).toEqual([]);
  });

  it('rejects such a username at sign-in', async () => {
    await createUser(server, 'null_user');
    const { agent, html } = await openSignInPage(server);

    const { response } = await agent.submit(formEndingWith(html, '/login'), { username: `null_user${WITH_NULL}`, password: 'Wrong-Passw0rd-1' });

    expect(response.status).toBe(401);
    expect(await response.text()).toContain('Invalid username or password.');
    expect(serverErrors()).toEqual([]);
  });

  it('stores the audit event of such a client id', async () => {
    const response = await fetch(new URL('/oauth/token', server.url), form({ grant_type: 'client_credentials', scope: 'orders:read' }, basic(`audited${WITH_NULL}`, 'secret')));
    expect(response.status).toBe(401);

    const events = await vi.waitFor(
      async () => {
        await server.running.observability.audit.flush();
        const stored = await new AuditRepository(server.running.db).query({ since: 0, types: ['authentication.failed'], limit: 100 });
        const found = stored.filter((event) => event.clientId?.startsWith('audited') === true);
        expect(found).toHaveLength(1);
        return found;
      },
      { timeout: 5000, interval: 100 },
    );

    expect(events[0]?.clientId).toBe('auditeda\ufffdb');
    expect(serverErrors()).toEqual([]);
  });
});
