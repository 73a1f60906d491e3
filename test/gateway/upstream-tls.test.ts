import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { callApi, obtainTokens } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** A certificate for 127.0.0.1 that no trusted authority signed. */
const SELF_SIGNED = {
  key: readFileSync(new URL('../fixtures/self-signed-key.pem', import.meta.url)),
  cert: readFileSync(new URL('../fixtures/self-signed-cert.pem', import.meta.url)),
};

describe('https upstream with an untrusted certificate', () => {
  let upstream: Server;
  let server: TestServer;
  let requestsReceived = 0;

  beforeAll(async () => {
    upstream = createServer(SELF_SIGNED, (_request, response) => {
      requestsReceived += 1;
      response.setHeader('content-type', 'application/json');
      response.end('{"items":[],"next_cursor":null}');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));

    server = await startTestServer({ upstreamUrl: `https://127.0.0.1:${(upstream.address() as AddressInfo).port}` });
  });

  afterAll(async () => {
    await server.close();
    await new Promise((resolve) => upstream.close(resolve));
  });

  it('gets a 502, not the upstream response', async () => {
    const { tokens } = await obtainTokens(server, await createUser(server, 'tls_user'));

    const response = await callApi(server, '/orders', tokens.access_token);

    expect(response.status).toBe(502);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect(((await response.json()) as { code: string }).code).toBe('bad_gateway');
    expect(requestsReceived).toBe(0);
  });
});
