import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import type { Role } from '../../src/accounts/account-service.js';
import type { AuditRecord } from '../../src/audit/events.js';
import { withAdminContext } from '../../src/cli/context.js';
import { DEFAULT_REVOCATION_CHECK_TTL_MS } from '../../src/config/load.js';
import { AccountRepository } from '../../src/store/account-repository.js';
import { AuditRepository } from '../../src/store/audit-repository.js';
import { epochSeconds } from '../../src/store/database.js';
import { createUser } from '../support/accounts.js';
import { runCli } from '../support/cli.js';
import { REDIS_URL } from '../support/config-file.js';
import { callApi, obtainTokens, openSignInPage, publicClient } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { UserAgent, formEndingWith } from '../support/user-agent.js';

/** Tests that spawn CLI processes, each of which compiles the sources with tsx. */
const CLI_TEST_TIMEOUT_MS = 90_000;

/** How long a change by the CLI may take to reach the gateway: the reuse time of revocation checks and slack for a busy machine. */
const VISIBLE_WITHIN_MS = DEFAULT_REVOCATION_CHECK_TTL_MS + 4000;

/**
 * How long a failed sign-in may take to reach the audit trail. The server
 * records it after the response, once it has looked the account up.
 */
const AUDIT_WAIT_MS = 10_000;

describe('account lockout from the CLI', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server.close();
  });

  function callWithApiKey(path: string, key: string): Promise<Response> {
    return fetch(`${server.url}/api${path}`, { headers: { 'x-api-key': key } });
  }

  /** Waits until `call` returns `status`, and returns the last status seen. */
  async function statusOnceVisible(call: () => Promise<Response>, status: number): Promise<number> {
    let last = 0;
    await vi.waitFor(
      async () => {
        last = (await call()).status;
        expect(last).toBe(status);
      },
      { timeout: VISIBLE_WITHIN_MS, interval: 100 },
    );
    return last;
  }

  async function apiKeyOf(username: string, scopes: string[]): Promise<string> {
    return withAdminContext(server.dataDir, async (admin) => {
      const owner = await admin.accounts.findByUsername(username);
      if (owner === undefined) {
        throw new Error(`no account ${username}`);
      }
      return (await admin.apiKeyService.create(owner, { name: 'lockout test', scopes })).value;
    });
  }

  async function users(...args: string[]): Promise<Record<string, unknown>> {
    const result = await runCli(['users', ...args, '--json', '--data-dir', server.dataDir]);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as Record<string, unknown>;
  }

  async function signIn(username: string, password: string): Promise<{ status: number; html: string }> {
    const { agent, html } = await openSignInPage(server);
    const { response } = await agent.submit(formEndingWith(html, '/login'), { username, password });
    return { status: response.status, html: await response.text() };
  }

  async function loginFailures(actor: string): Promise<AuditRecord[]> {
    await server.running.observability.audit.flush();
    const records = await new AuditRepository(server.running.db).query({ since: 0, types: ['login.failed'], limit: 1000 });
    return records.filter((record) => record.actor === actor);
  }

  async function user(username: string, roles: Role[] = []) {
    return createUser(server, username, roles);
  }

  it(
    'disable stops tokens, keys and sign-ins',
    async () => {
      const alice = await user('lockout_alice');
      const { tokens, config } = await obtainTokens(server, alice);
      const key = await apiKeyOf(alice.username, ['orders:read']);
      expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(200);
      expect((await callWithApiKey('/orders', key)).status).toBe(200);

      const disabled = await users('disable', alice.username);

      expect(disabled).toMatchObject({ id: alice.id, disabled: true, revoked: { grants: 1, apiKeys: 1 } });
      expect(await statusOnceVisible(() => callApi(server, '/orders', tokens.access_token), 401)).toBe(401);
      expect(await statusOnceVisible(() => callWithApiKey('/orders', key), 401)).toBe(401);
      await expect(client.refreshTokenGrant(config, tokens.refresh_token ?? '')).rejects.toMatchObject({ error: 'invalid_grant' });

      // The right password gets the response of a wrong one. Only the audit trail records why.
      const right = await signIn(alice.username, alice.password);
      const wrong = await signIn(alice.username, 'Wrong-Passw0rd-1');
      expect(right.status).toBe(401);
      expect(right.html).toContain('Invalid username or password.');
      expect(wrong.status).toBe(401);
      await vi.waitFor(
        async () => {
          expect((await loginFailures(alice.id)).map((record) => record.reason).sort()).toEqual(['account_disabled', 'invalid_credentials']);
        },
        { timeout: AUDIT_WAIT_MS, interval: 100 },
      );

      const listed = (await runCli(['users', 'list', '--json', '--data-dir', server.dataDir])).stdout;
      expect((JSON.parse(listed) as Array<{ username: string; disabled: boolean }>).find((account) => account.username === alice.username)?.disabled).toBe(true);
    },
    CLI_TEST_TIMEOUT_MS,
  );

  it(
    'enable keeps revocations',
    async () => {
      const bob = await user('lockout_bob');
      const key = await apiKeyOf(bob.username, ['orders:read']);
      await users('disable', bob.username);

      const enabled = await users('enable', bob.username);

      expect(enabled).toMatchObject({ id: bob.id, disabled: false });
      const { tokens } = await obtainTokens(server, bob);
      expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(200);
      expect(await statusOnceVisible(() => callWithApiKey('/orders', key), 401)).toBe(401);
    },
    CLI_TEST_TIMEOUT_MS,
  );

  it(
    'sign-out ends tokens but keeps the account and its keys',
    async () => {
      const frank = await user('lockout_frank');
      const { tokens, config } = await obtainTokens(server, frank);
      const key = await apiKeyOf(frank.username, ['orders:read']);

      const signedOut = await users('sign-out', frank.username);

      expect(signedOut).toMatchObject({ id: frank.id, username: frank.username, revoked: { grants: 1 } });
      expect(await statusOnceVisible(() => callApi(server, '/orders', tokens.access_token), 401)).toBe(401);
      await expect(client.refreshTokenGrant(config, tokens.refresh_token ?? '')).rejects.toMatchObject({ error: 'invalid_grant' });
      expect((await callWithApiKey('/orders', key)).status).toBe(200);
      expect((await signIn(frank.username, frank.password)).status).toBe(200);

      await server.running.observability.audit.flush();
      const revoked = await new AuditRepository(server.running.db).query({ since: 0, types: ['token.revoked'], limit: 1000 });
      expect(revoked.find((record) => record.reason === 'signed_out')).toMatchObject({ actor: 'cli', detail: `account ${frank.id}; revoked 1 grant with its tokens and sessions` });
    },
    CLI_TEST_TIMEOUT_MS,
  );

  it(
    'role removal reaches tokens and keys',
    async () => {
      const carol = await user('lockout_carol', ['admin']);
      const { tokens } = await obtainTokens(server, { ...carol, scope: 'openid orders:read admin' });
      const key = await apiKeyOf(carol.username, ['orders:read', 'admin']);
      expect((await callApi(server, '/admin/orders', tokens.access_token)).status).toBe(200);

      const changed = await users('roles', carol.username, '--none');

      expect(changed).toMatchObject({ roles: [], previousRoles: ['admin'], revoked: { grants: 1 } });
      expect(await statusOnceVisible(() => callApi(server, '/admin/orders', tokens.access_token), 401)).toBe(401);
      const again = await obtainTokens(server, { ...carol, scope: 'openid orders:read admin' });
      expect((await callApi(server, '/admin/orders', again.tokens.access_token)).status).toBe(403);

      const verified = await withAdminContext(server.dataDir, (admin) => admin.apiKeyService.verify(key, '127.0.0.1'));
      expect(verified.outcome === 'valid' ? verified.record.scopes : verified.outcome).toEqual(['orders:read']);
      expect((await callWithApiKey('/orders', key)).status).toBe(200);
    },
    CLI_TEST_TIMEOUT_MS,
  );

  it(
    'remove, unknown users, unclear roles',
    async () => {
      const dave = await user('lockout_dave');
      const { tokens } = await obtainTokens(server, dave);

      expect(await users('remove', dave.username)).toMatchObject({ id: dave.id, removed: true, revoked: { grants: 1 } });
      expect(await statusOnceVisible(() => callApi(server, '/orders', tokens.access_token), 401)).toBe(401);

      const unknown = await runCli(['users', 'disable', dave.username, '--data-dir', server.dataDir]);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain(`no account with username '${dave.username}'`);

      const noRoles = await runCli(['users', 'roles', 'lockout_alice', '--data-dir', server.dataDir]);
      expect(noRoles.code).toBe(1);
      expect(noRoles.stderr).toContain('--none');

      const unknownRole = await runCli(['users', 'roles', 'lockout_alice', '--role', 'root', '--data-dir', server.dataDir]);
      expect(unknownRole.code).toBe(1);
      expect(unknownRole.stderr).toContain("unknown role 'root'");
    },
    CLI_TEST_TIMEOUT_MS,
  );
});

describe('account lockout with sessions in Redis', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ redisUrl: REDIS_URL });
  });

  afterAll(async () => {
    await server.close();
  });

  async function users(...args: string[]): Promise<void> {
    const result = await runCli(['users', ...args, '--data-dir', server.dataDir]);
    expect(result.code, result.stderr).toBe(0);
  }

  /** Builds an authorization request of the demo client, with `parameters` added. */
  async function authorizationRequest(parameters: Record<string, string> = {}): Promise<URL> {
    const config = await publicClient(server);
    return client.buildAuthorizationUrl(config, {
      redirect_uri: server.demoRedirectUri,
      scope: 'openid orders:read',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      ...parameters,
    });
  }

  /** Starts an authorization request in `agent` and returns the page that the server shows first. */
  async function firstPage(agent: UserAgent): Promise<string> {
    const url = await authorizationRequest();
    const page = await agent.follow(url.href, server.demoRedirectUri);
    return page.url.startsWith(`${server.demoRedirectUri}?`) ? 'redirect' : await page.response.text();
  }

  it(
    'disable ends the browser session for good',
    async () => {
      const erin = await createUser(server, 'lockout_erin');
      const agent = new UserAgent(server.url);
      await obtainTokens(server, { ...erin, agent });

      await users('disable', erin.username);
      const whileDisabled = await firstPage(agent);
      await users('enable', erin.username);
      const afterEnable = await firstPage(agent);

      expect(whileDisabled).toContain('/login"');
      expect(afterEnable).toContain('/login"');
      const { tokens } = await obtainTokens(server, { ...erin, agent });
      expect(tokens.access_token).toEqual(expect.any(String));
    },
    CLI_TEST_TIMEOUT_MS,
  );

  it(
    'role removal ends the browser session',
    async () => {
      const frank = await createUser(server, 'lockout_frank', ['admin']);
      const agent = new UserAgent(server.url);
      await obtainTokens(server, { ...frank, agent });

      await users('roles', frank.username, '--none');

      expect(await firstPage(agent)).toContain('/login"');
    },
    CLI_TEST_TIMEOUT_MS,
  );

  it(
    'silent request after sign-out needs login',
    async () => {
      const judy = await createUser(server, 'lockout_judy');
      const agent = new UserAgent(server.url);
      await obtainTokens(server, { ...judy, agent });

      await users('sign-out', judy.username);
      const url = await authorizationRequest({ prompt: 'none' });
      const page = await agent.follow(url.href, server.demoRedirectUri);

      // OpenID Connect Core's error for a silent request whose user must sign in again.
      expect(new URL(page.url).searchParams.get('error')).toBe('login_required');
    },
    CLI_TEST_TIMEOUT_MS,
  );

  it(
    'sign-out voids a sign-in awaiting consent',
    async () => {
      const ivan = await createUser(server, 'lockout_ivan');
      const agent = new UserAgent(server.url);
      const signInPage = await firstPage(agent);
      const consent = await agent.submit(formEndingWith(signInPage, '/login'), { username: ivan.username, password: ivan.password }, server.demoRedirectUri);
      const consentPage = await consent.response.text();

      await users('sign-out', ivan.username);
      const afterConsent = await agent.submit(formEndingWith(consentPage, '/confirm'), {}, server.demoRedirectUri);
      const afterConsentPage = await afterConsent.response.text();

      expect(consentPage).toContain('/confirm"');
      expect(afterConsent.url.startsWith(`${server.demoRedirectUri}?`), `ended at ${afterConsent.url}`).toBe(false);
      expect(afterConsentPage).toContain('/login"');

      // The consent given above still applies once the password is entered again.
      const signedInAgain = await agent.submit(formEndingWith(afterConsentPage, '/login'), { username: ivan.username, password: ivan.password }, server.demoRedirectUri);
      expect(signedInAgain.url.startsWith(`${server.demoRedirectUri}?`), `ended at ${signedInAgain.url}`).toBe(true);
    },
    CLI_TEST_TIMEOUT_MS,
  );

  it('signs in once right after a role removal', async () => {
    const grace = await createUser(server, 'lockout_grace', ['admin']);
    const agent = new UserAgent(server.url);

    // In process, so that the sign-in below most likely falls in the second of the revocation.
    await new AccountRepository(server.running.db).setRoles(grace.id, []);
    const signInPage = await firstPage(agent);
    const consent = await agent.submit(formEndingWith(signInPage, '/login'), { username: grace.username, password: grace.password }, server.demoRedirectUri);
    const consentPage = await consent.response.text();
    const done = await agent.submit(formEndingWith(consentPage, '/confirm'), {}, server.demoRedirectUri);

    expect(consentPage).toContain('/confirm"');
    expect(done.url.startsWith(`${server.demoRedirectUri}?`), `ended at ${done.url}`).toBe(true);
  });

  it('future revocation time stalls no sign-in', async () => {
    const heidi = await createUser(server, 'lockout_heidi');
    const agent = new UserAgent(server.url);
    // As a CLI on a host whose clock runs an hour ahead would write it.
    const aheadSeconds = epochSeconds() + 3600;
    await server.running.db.updateTable('accounts').set({ sessions_revoked_at: aheadSeconds }).where('id', '=', heidi.id).execute();

    // Without a bound on the wait, the sign-in would respond after an hour
    // and the test would time out.
    const signInPage = await firstPage(agent);
    const consent = await agent.submit(formEndingWith(signInPage, '/login'), { username: heidi.username, password: heidi.password }, server.demoRedirectUri);

    expect(consent.response.status).toBe(200);
    expect(await consent.response.text()).toContain('/confirm"');
  });
});
