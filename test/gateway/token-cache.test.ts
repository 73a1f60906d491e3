import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { withAdminContext } from '../../src/cli/context.js';
import { DEFAULT_REVOCATION_CHECK_TTL_MS } from '../../src/config/load.js';
import { revokeGrant } from '../../src/store/oidc-adapter.js';
import { createUser } from '../support/accounts.js';
import { runCli } from '../support/cli.js';
import { writeConfigFile } from '../support/config-file.js';
import { callApi, obtainTokens } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** How long a test waits for a revocation by another process to reach the gateway: the cache TTL and slack for a busy machine. */
const VISIBLE_WITHIN_MS = DEFAULT_REVOCATION_CHECK_TTL_MS + 4000;

/** Calls the API with `call` until it returns `status` or `VISIBLE_WITHIN_MS` passes, and returns the last status. */
async function statusOnceVisible(
  server: TestServer,
  credential: string,
  status: number,
  call: (server: TestServer, path: string, credential: string) => Promise<Response> = callApi,
): Promise<number> {
  const deadline = Date.now() + VISIBLE_WITHIN_MS;
  let last = (await call(server, '/orders', credential)).status;
  while (last !== status && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    last = (await call(server, '/orders', credential)).status;
  }
  return last;
}

function callWithApiKey(server: TestServer, path: string, key: string): Promise<Response> {
  return fetch(`${server.url}/api${path}`, { headers: { 'x-api-key': key } });
}

/** Creates an API key for a new user over a second connection to the data directory, as the admin CLI opens one. */
async function apiKeyOf(server: TestServer, username: string): Promise<{ key: string; revokeElsewhere: () => Promise<boolean> }> {
  await createUser(server, username);
  const created = await withAdminContext(server.dataDir, async (admin) => {
    const owner = await admin.accounts.findByUsername(username);
    if (owner === undefined) {
      throw new Error(`the account ${username} was not created`);
    }
    return admin.apiKeyService.create(owner, { name: 'cache test key', scopes: ['orders:read'] });
  });
  return {
    key: created.value,
    revokeElsewhere: () => withAdminContext(server.dataDir, (admin) => admin.apiKeyService.revoke(created.summary.id)),
  };
}

function grantIdOf(accessToken: string): string {
  const grantId = decodeJwt(accessToken)['grant_id'];
  if (typeof grantId !== 'string') {
    throw new Error('the access token has no grant_id');
  }
  return grantId;
}

async function tokensOf(server: TestServer, username: string): Promise<Awaited<ReturnType<typeof obtainTokens>>> {
  const user = await createUser(server, username);
  return obtainTokens(server, user);
}

describe('gateway token cache', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server.close();
  });

  it('refuses a grant revoked by another process', async () => {
    const { tokens } = await tokensOf(server, 'cache_other_process');
    expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(200);

    // A second connection to the data directory, as the admin CLI opens one.
    await withAdminContext(server.dataDir, (admin) => revokeGrant(admin.db, grantIdOf(tokens.access_token)));

    expect(await statusOnceVisible(server, tokens.access_token, 401)).toBe(401);
    expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(401);
  });

  it('refuses a grant revoked at the revocation endpoint at once', async () => {
    const { tokens, config } = await tokensOf(server, 'cache_endpoint');
    expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(200);

    await client.tokenRevocation(config, tokens.refresh_token as string);

    expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(401);
  });

  it('refuses a client removed by the CLI', async () => {
    const added = await runCli(['clients', 'add', '--name', 'Cached service', '--json', '--confidential', '--grant', 'client_credentials', '--scope', 'orders:read', '--data-dir', server.dataDir]);
    expect(added.code, added.stderr).toBe(0);
    const service = JSON.parse(added.stdout) as { client_id: string; client_secret: string };
    const config = await client.discovery(new URL(server.issuer), service.client_id, undefined, client.ClientSecretBasic(service.client_secret), {
      execute: [client.allowInsecureRequests],
    });
    const tokens = await client.clientCredentialsGrant(config, { scope: 'orders:read' });
    expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(200);

    const removed = await runCli(['clients', 'remove', service.client_id, '--data-dir', server.dataDir]);
    expect(removed.code, removed.stderr).toBe(0);

    expect(await statusOnceVisible(server, tokens.access_token, 401)).toBe(401);
  });

  it('rejects an API key revoked elsewhere', async () => {
    const { key, revokeElsewhere } = await apiKeyOf(server, 'cache_api_key');
    expect((await callWithApiKey(server, '/orders', key)).status).toBe(200);

    expect(await revokeElsewhere()).toBe(true);

    expect(await statusOnceVisible(server, key, 401, callWithApiKey)).toBe(401);
    expect((await callWithApiKey(server, '/orders', key)).status).toBe(401);
  });

  it('refuses a cached token once its signing key is removed', async () => {
    const { tokens } = await tokensOf(server, 'cache_key_removed');
    expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(200);
    const oldKid = server.running.keyRing.keys[0]?.kid ?? '';

    const rotated = await runCli(['keys', 'rotate', '--data-dir', server.dataDir]);
    expect(rotated.code, rotated.stderr).toBe(0);
    await server.running.keyRing.refresh();
    expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(200);

    // Retired long ago: past its retention, so the key is no longer published.
    await withAdminContext(server.dataDir, (admin) => admin.db.updateTable('signing_keys').set({ retired_at: 1 }).where('kid', '=', oldKid).execute());
    await server.running.keyRing.refresh();

    expect(server.running.keyRing.publicJwks.keys.map((key) => key.kid)).not.toContain(oldKid);
    const response = await callApi(server, '/orders', tokens.access_token);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain('signed with an unknown key');
  });
});

describe('gateway with revocation checks not reused', () => {
  let server: TestServer;

  beforeAll(async () => {
    // The token cache stays on: it keeps signature checks, not revocation checks.
    server = await startTestServer({ config: await writeConfigFile({ gateway: { revocationCheckTtlMs: 0 } }) });
  });

  afterAll(async () => {
    await server.close();
  });

  it('refuses a grant revoked by another process at once', async () => {
    const { tokens } = await tokensOf(server, 'uncached');
    expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(200);

    await withAdminContext(server.dataDir, (admin) => revokeGrant(admin.db, grantIdOf(tokens.access_token)));

    expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(401);
  });

  it('rejects an API key revoked elsewhere at once', async () => {
    const { key, revokeElsewhere } = await apiKeyOf(server, 'uncached_api_key');
    expect((await callWithApiKey(server, '/orders', key)).status).toBe(200);

    expect(await revokeElsewhere()).toBe(true);

    expect((await callWithApiKey(server, '/orders', key)).status).toBe(401);
  });
});

describe('gateway with the token cache off', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ config: await writeConfigFile({ gateway: { tokenCache: { enabled: false, maxEntries: 10 } } }) });
  });

  afterAll(async () => {
    await server.close();
  });

  it('verifies a token on every request', async () => {
    const { tokens, config } = await tokensOf(server, 'uncached_token');
    for (let call = 0; call < 3; call += 1) {
      expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(200);
    }

    await client.tokenRevocation(config, tokens.refresh_token as string);

    expect((await callApi(server, '/orders', tokens.access_token)).status).toBe(401);
  });

  it('reads every API key from the store', async () => {
    const { key, revokeElsewhere } = await apiKeyOf(server, 'uncached_api_key_lookup');
    expect((await callWithApiKey(server, '/orders', key)).status).toBe(200);

    expect(await revokeElsewhere()).toBe(true);

    expect((await callWithApiKey(server, '/orders', key)).status).toBe(401);
  });
});
