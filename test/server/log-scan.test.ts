import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { REDIS_URL } from '../support/config-file.js';
import { authorizationUrl, authorize, callApi, obtainTokens, openSignInPage, publicClient } from '../support/oauth.js';
import { formEndingWith } from '../support/user-agent.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { TcpProxy } from '../support/tcp-proxy.js';

describe('log scan', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server.close();
  });

  it('keeps every secret out of the logs', async () => {
    const user = await createUser(server, 'logged_user');
    const config = await publicClient(server);
    const secrets: string[] = [user.password, server.admin.password];

    const { callbackUrl, codeVerifier, state, agent } = await authorize(server, config, user);
    const code = callbackUrl.searchParams.get('code') ?? '';
    secrets.push(code, codeVerifier);

    const tokens = await client.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: codeVerifier, expectedState: state });
    secrets.push(tokens.access_token, tokens.refresh_token ?? '', tokens.id_token ?? '');

    await callApi(server, '/orders', tokens.access_token);
    await callApi(server, '/orders', `${tokens.access_token}x`);
    await fetch(`${server.url}/api/orders?access_token=${tokens.access_token}`);
    // A credential pasted into the path, where no query redaction reaches.
    await callApi(server, `/${tokens.access_token}`, tokens.access_token);
    await callApi(server, `/orders/${encodeURIComponent(tokens.access_token)}`, tokens.access_token);
    await fetch(`${server.url}/nowhere/${tokens.access_token}`);
    await fetch(`${server.url}/demo/callback?code=${code}&state=${state}`);
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token ?? '');
    secrets.push(refreshed.access_token, refreshed.refresh_token ?? '');
    await client.tokenRevocation(config, refreshed.refresh_token ?? '');

    // A failed login, and one with the password typed into the username field.
    const failed = await openSignInPage(server);
    await failed.agent.submit(formEndingWith(failed.html, '/login'), { username: 'logged_user', password: 'Wrong-Passw0rd-1' });
    const misplaced = await openSignInPage(server);
    await misplaced.agent.submit(formEndingWith(misplaced.html, '/login'), { username: user.password, password: 'x' });

    for (const name of agent.cookieNames()) {
      expect(name).toBeTypeOf('string');
    }

    const logs = server.logs.join('\n');
    expect(logs.length).toBeGreaterThan(0);
    for (const secret of secrets.filter((value) => value !== '')) {
      expect(logs, `a secret of length ${secret.length} appears in the logs`).not.toContain(secret);
    }
    expect(logs).not.toContain('Wrong-Passw0rd-1');
    expect(logs).not.toMatch(/"cookie"\s*:\s*"[^[]/i);
    expect(logs).not.toMatch(/"authorization"\s*:\s*"Bearer/i);
    expect(logs).not.toMatch(/_session=|_interaction=|portcullis_csrf=|portcullis_session=/);
  });
});

describe('log scan on Redis error replies', () => {
  const proxy = new TcpProxy(Number(new URL(REDIS_URL).port || 6379));
  let server: TestServer | undefined;

  afterAll(async () => {
    await server?.close();
    await proxy.stop();
  });

  it('keeps stored token keys out of the logs', async () => {
    await proxy.start();
    server = await startTestServer({ redisUrl: `redis://127.0.0.1:${proxy.port}` });
    const user = await createUser(server, 'redis_logged_user');
    // Without an API scope the access token is opaque, and Redis keeps it under a key that contains it.
    const { tokens } = await obtainTokens(server, { ...user, scope: 'openid profile' });
    const { agent } = await authorize(server, await publicClient(server), user);

    // Redis replies with this error while it loads its data after a restart.
    proxy.replyWithError('LOADING Redis is loading the dataset in memory');
    try {
      await fetch(`${server.url}/oauth/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      await agent.follow(authorizationUrl(server, {}));
    } finally {
      proxy.relay();
    }

    const failures = server.logs.filter((line) => line.includes('LOADING Redis is loading'));
    expect(failures.length).toBeGreaterThanOrEqual(2);
    expect(failures.join('\n')).toContain('"command":{"name":"hgetall"}');
    const logs = server.logs.join('\n');
    expect(logs).not.toContain(tokens.access_token);
    // The ids of sessions and sign-in requests are cookie values.
    expect(logs).not.toMatch(/:oidc:[A-Za-z]+:/);
  });
});

describe('upstream URL in the start-up log', () => {
  it('hides the password', async () => {
    const server = await startTestServer({ upstreamUrl: 'http://gateway:Upstream-Secret-42@127.0.0.1:9/' });
    await server.close();

    const line = server.logs.find((entry) => entry.includes('gateway listening'));
    expect(line).toContain('http://gateway:***@127.0.0.1:9/');
    expect(server.logs.join('\n')).not.toContain('Upstream-Secret-42');
  });

  it('hides query values', async () => {
    const server = await startTestServer({ upstreamUrl: 'http://127.0.0.1:9/v1?api_key=Upstream-Query-Key' });
    await server.close();

    const line = server.logs.find((entry) => entry.includes('gateway listening'));
    expect(line).toContain('http://127.0.0.1:9/v1?api_key=***');
    expect(server.logs.join('\n')).not.toContain('Upstream-Query-Key');
  });
});
