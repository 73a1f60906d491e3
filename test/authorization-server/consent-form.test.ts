import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { DIALECTS, type TestDatabase } from '../support/databases.js';
import { pkceAuthorizationRequest, publicClient } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { UserAgent, formEndingWith } from '../support/user-agent.js';

/**
 * The consent form sent more than once, as by a double click or a replay
 * of the request, stores one grant for its authorization request. On
 * PostgreSQL, submissions sent in parallel run their handlers at the same
 * time, so none of them has seen the grant of another.
 */

describe.each(DIALECTS)('consent form sent again on $name', ({ create }) => {
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

  async function storedGrants(accountId: string): Promise<Array<{ accountId: string }>> {
    const rows = await server.running.db.selectFrom('oidc_payloads').select('payload').where('model', '=', 'Grant').execute();
    return rows.map((row) => JSON.parse(row.payload) as { accountId: string }).filter((grant) => grant.accountId === accountId);
  }

  /**
   * Signs `username` in up to the consent page, sends its form with `send`,
   * and redeems the code of the last redirect. Returns the granted scope.
   */
  async function consentWith(username: string, send: (submit: () => Promise<Response>) => Promise<Response[]>): Promise<string | undefined> {
    const user = await createUser(server, username);
    const config = await publicClient(server);
    const { url, verifier, state } = await pkceAuthorizationRequest(config, server.demoRedirectUri, { scope: 'openid email orders:read' });
    const agent = new UserAgent(server.url);
    const signIn = await agent.follow(url.href);
    const consent = await agent.submit(formEndingWith(await signIn.response.text(), '/login'), { username: user.username, password: user.password });
    const form = formEndingWith(await consent.response.text(), '/confirm');

    const submit = () =>
      agent.fetch(form.action, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form.fields) });
    const submissions = await send(submit);
    for (const response of submissions) {
      expect(response.status).toBe(303);
    }

    const callback = await agent.follow(submissions.at(-1)?.headers.get('location') ?? '', server.demoRedirectUri);
    const tokens = await client.authorizationCodeGrant(config, new URL(callback.url), { pkceCodeVerifier: verifier, expectedState: state });
    expect(await storedGrants(user.id)).toHaveLength(1);
    return tokens.scope;
  }

  it('stores one grant', async () => {
    const scope = await consentWith('consent_user', async (submit) => {
      const submissions: Response[] = [];
      for (let i = 0; i < 3; i += 1) {
        submissions.push(await submit());
      }
      return submissions;
    });

    expect(scope).toBe('orders:read');
  });

  it('stores one grant when sent in parallel', async () => {
    const scope = await consentWith('parallel_consent_user', (submit) => Promise.all(Array.from({ length: 10 }, submit)));

    expect(scope).toBe('orders:read');
  });
});
