import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { runCli } from '../support/cli.js';
import { startTestServer, type TestServer } from '../support/server.js';

// oidc-provider 9 prints a plain-text "oidc-provider NOTICE" on standard output
// the first time it falls back to one of its defaults that a deployment
// should set, which breaks the JSON-lines log. Each test file runs in a fresh
// module state, so the first grant here is the one that would print it.
describe('oidc-provider notices', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    vi.restoreAllMocks();
    await server.close();
  });

  it('client credentials grant prints no notice', async () => {
    const added = await runCli([
      'clients', 'add', '--name', 'Service', '--json', '--data-dir', server.dataDir,
      '--confidential', '--grant', 'client_credentials', '--scope', 'orders:read',
    ]);
    expect(added.code, added.stderr).toBe(0);
    const service = JSON.parse(added.stdout) as { client_id: string; client_secret: string };

    const info = vi.spyOn(console, 'info');
    const config = await client.discovery(
      new URL(server.issuer),
      service.client_id,
      undefined,
      client.ClientSecretBasic(service.client_secret),
      { execute: [client.allowInsecureRequests] },
    );
    const tokens = await client.clientCredentialsGrant(config, { scope: 'orders:read' });

    expect(tokens.expires_in).toBe(600);
    const notices = info.mock.calls.map((call) => String(call[0])).filter((line) => line.includes('oidc-provider NOTICE'));
    expect(notices).toEqual([]);
  });
});
