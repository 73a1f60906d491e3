import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { pkceAuthorizationRequest, publicClient } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { UserAgent, formEndingWith } from '../support/user-agent.js';

/**
 * The consent form sent more than once, as by a double click or a replay
 * of the request, stores one grant for its authorization request.
 */

let server: TestServer;
let user: { username: string; password: string; id: string };

beforeAll(async () => {
  server = await startTestServer();
  user = await createUser(server, 'consent_user');
});

afterAll(async () => {
  await server.close();
});

async function storedGrants(): Promise<Array<{ accountId: string }>> {
  const rows = await server.running.db.selectFrom('oidc_payloads').select('payload').where('model', '=', 'Grant').execute();
  return rows.map((row) => JSON.parse(row.payload) as { accountId: string }).filter((grant) => grant.accountId === user.id);
}

describe('consent form sent again', () => {
  it('stores one grant', async () => {
    const config = await publicClient(server);
    const { url, verifier, state } = await pkceAuthorizationRequest(config, server.demoRedirectUri, { scope: 'openid email orders:read' });
    const agent = new UserAgent(server.url);
    const signIn = await agent.follow(url.href);
    const consent = await agent.submit(formEndingWith(await signIn.response.text(), '/login'), { username: user.username, password: user.password });
    const form = formEndingWith(await consent.response.text(), '/confirm');

    const submissions: Response[] = [];
    for (let i = 0; i < 3; i += 1) {
      submissions.push(await agent.fetch(form.action, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form.fields) }));
    }
    expect(submissions.map((response) => response.status)).toEqual([303, 303, 303]);

    const callback = await agent.follow(submissions[2]?.headers.get('location') ?? '', server.demoRedirectUri);
    const tokens = await client.authorizationCodeGrant(config, new URL(callback.url), { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.scope).toBe('orders:read');
    expect(await storedGrants()).toHaveLength(1);
  });
});
