import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { defaultRateLimits } from '../../src/config/load.js';
import { SecretBox } from '../../src/core/secret-box.js';
import { AuditRepository } from '../../src/store/audit-repository.js';
import { loadServerSecret } from '../../src/store/server-secret.js';
import { runCli } from '../support/cli.js';
import { REDIS_URL, writeConfigFile } from '../support/config-file.js';
import { clientEndpointMetadata } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

interface CreatedClient {
  client_id: string;
  client_secret: string;
}

interface Exchange {
  status: number;
  retryAfter: string | null;
  body: Record<string, unknown>;
}

const STORES = [
  { store: 'memory', settings: {} },
  // Client authentication pauses with a 503 when a Redis reply comes after
  // storeTimeoutMs, 250 ms by default. 5 s covers a loaded machine.
  { store: 'redis', settings: { store: 'redis', redisUrl: REDIS_URL, storeTimeoutMs: 5000 } },
] as const;

describe.each(STORES)('client authentication throttle ($store store)', ({ settings }) => {
  let server: TestServer;
  let service: CreatedClient;

  beforeAll(async () => {
    server = await startThrottledServer({ ...settings, clientAuthentication: { ...THRESHOLDS, clientTotalThreshold: 1000, addressThreshold: 1000 } });
    service = await addClient(server);
  });

  afterAll(async () => {
    await server.close();
  });

  const requestToken = (clientId: string, secret: string, address: string) => requestTokenFrom(server, clientId, secret, address);
  const failUntilThrottled = (clientId: string, address: string) => failUntilThrottledOn(server, clientId, address);

  it('answers 429 past the threshold', async () => {
    const throttled = await failUntilThrottled(service.client_id, '203.0.113.10');

    expect(throttled.status).toBe(429);
    expect(throttled.retryAfter).toMatch(/^[1-9]\d*$/);
    expect(throttled.body['type']).toBe('urn:portcullis:problem:rate-limited');
    expect(throttled.body['detail']).toMatch(/^Too many failed client authentications from this address\. Retry after \d+ seconds?\.$/);
  });

  it('rejects the right secret without checking it', async () => {
    await failUntilThrottled(service.client_id, '203.0.113.11');

    const right = await requestToken(service.client_id, service.client_secret, '203.0.113.11');

    expect(right.status).toBe(429);
    expect(right.body['access_token']).toBeUndefined();
  });

  it('accepts the right secret from another address', async () => {
    await failUntilThrottled(service.client_id, '203.0.113.12');

    const other = await requestToken(service.client_id, service.client_secret, '198.51.100.12');

    expect(other.status).toBe(200);
    expect(typeof other.body['access_token']).toBe('string');
  });

  it('accepts the right secret after the delay', async () => {
    const quick = await startThrottledServer({
      ...settings,
      clientAuthentication: { ...THRESHOLDS, clientTotalThreshold: 1000, addressThreshold: 1000, baseDelay: '1s', maxDelay: '1s' },
    });
    try {
      const quickService = await addClient(quick);
      await failUntilThrottledOn(quick, quickService.client_id, '203.0.113.13');

      const accepted = await vi.waitFor(
        async () => {
          const attempt = await requestTokenFrom(quick, quickService.client_id, quickService.client_secret, '203.0.113.13');
          expect(attempt.status).toBe(200);
          return attempt;
        },
        { timeout: 15_000, interval: 250 },
      );
      expect(typeof accepted.body['access_token']).toBe('string');
    } finally {
      await quick.close();
    }
  });

  it('resets the counter on success', async () => {
    for (let round = 0; round < 3; round += 1) {
      for (let attempt = 0; attempt < 2; attempt += 1) {
        expect((await requestToken(service.client_id, 'wrong-secret', '203.0.113.14')).status).toBe(401);
      }
      expect((await requestToken(service.client_id, service.client_secret, '203.0.113.14')).status).toBe(200);
    }
  });

  it('accepts a sealed secret every time', async () => {
    const legacy = await addClient(server);
    await sealSecret(server, legacy);

    for (let attempt = 1; attempt <= THRESHOLDS.clientThreshold + 2; attempt += 1) {
      const accepted = await requestToken(legacy.client_id, legacy.client_secret, '203.0.113.18');
      expect(accepted.status, `attempt ${attempt}`).toBe(200);
    }
  });

  it('answers an unknown client id like a known one', async () => {
    const known = await failUntilThrottled(service.client_id, '203.0.113.15');
    const unknown = await failUntilThrottled('no-such-client', '203.0.113.15');

    expect(unknown.status).toBe(429);
    expect(known.status).toBe(429);
    expect(unknown.retryAfter).toMatch(/^[1-9]\d*$/);
    // Only the request id and the seconds left may differ.
    expect(withoutVaryingParts(unknown.body)).toEqual(withoutVaryingParts(known.body));
  });

  it('counts failures at every client-authenticating endpoint', async () => {
    const address = '203.0.113.17';
    const operations: Array<(config: client.Configuration) => Promise<unknown>> = [
      (config) => client.tokenIntrospection(config, 'some-token'),
      (config) => client.tokenRevocation(config, 'some-token'),
      (config) => client.buildAuthorizationUrlWithPAR(config, { redirect_uri: 'https://client.example.test/cb', scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }),
    ];

    for (const operation of operations) {
      const rejected = await exchange(server, service.client_id, 'wrong-secret', address, operation);
      expect(rejected.status).toBe(401);
      expect(rejected.body['error']).toBe('invalid_client');
    }
    for (const operation of operations) {
      const throttled = await exchange(server, service.client_id, service.client_secret, address, operation);
      expect(throttled.status).toBe(429);
      expect(throttled.retryAfter).toMatch(/^[1-9]\d*$/);
    }
  });

  it('records an audit event when it throttles', async () => {
    await failUntilThrottled(service.client_id, '203.0.113.16');

    await vi.waitFor(
      async () => {
        await server.running.observability.audit.flush();
        const records = await new AuditRepository(server.running.db).query({ since: 0, types: ['rate_limit.exceeded'], limit: 1000 });
        const throttled = records.filter((record) => record.reason === 'client-authentication' && record.sourceAddress === '203.0.113.16');
        expect(throttled.length).toBeGreaterThanOrEqual(1);
        expect(throttled[0]?.clientId).toBe(service.client_id);
      },
      { timeout: 5000, interval: 100 },
    );
  });
});

describe('client authentication throttle across addresses', () => {
  let server: TestServer;
  let service: CreatedClient;

  beforeAll(async () => {
    server = await startThrottledServer({ clientAuthentication: { ...THRESHOLDS, clientTotalThreshold: 6, addressThreshold: 8 } });
    service = await addClient(server);
  });

  afterAll(async () => {
    await server.close();
  });

  it('delays guesses spread over addresses', async () => {
    for (const address of ['192.0.2.1', '192.0.2.2', '192.0.2.3']) {
      for (let attempt = 0; attempt < 2; attempt += 1) {
        expect((await requestTokenFrom(server, service.client_id, 'wrong-secret', address)).status).toBe(401);
      }
    }

    expect((await requestTokenFrom(server, service.client_id, 'wrong-secret', '192.0.2.4')).status).toBe(401);
    const throttled = await requestTokenFrom(server, service.client_id, 'wrong-secret', '192.0.2.4');
    expect(throttled.status).toBe(429);
    expect(throttled.retryAfter).toMatch(/^[1-9]\d*$/);

    const legitimate = await requestTokenFrom(server, service.client_id, service.client_secret, '192.0.2.5');
    expect(legitimate.status).toBe(200);
  });

  it('accepts parallel right secrets after spread guesses', async () => {
    const busy = await addClient(server);
    for (const address of ['192.0.2.30', '192.0.2.31', '192.0.2.32']) {
      for (let attempt = 0; attempt < 2; attempt += 1) {
        expect((await requestTokenFrom(server, busy.client_id, 'wrong-secret', address)).status).toBe(401);
      }
    }

    for (let round = 0; round < 5; round += 1) {
      const parallel = Array.from({ length: THRESHOLDS.clientThreshold }, () => requestTokenFrom(server, busy.client_id, busy.client_secret, '192.0.2.33'));
      const statuses = (await Promise.all(parallel)).map((outcome) => outcome.status);
      expect(statuses, `round ${round}`).toEqual(statuses.map(() => 200));
    }
  });

  it('delays an address that tries many client ids', async () => {
    for (let index = 0; index < 8; index += 1) {
      const unauthenticated = await postTokenRequest(server, `grant_type=client_credentials&client_id=guess-${index}`, '192.0.2.20');
      expect(unauthenticated.status).toBe(401);
    }

    const bodyClientId = await postTokenRequest(server, 'grant_type=client_credentials&client_id=guess-9', '192.0.2.20');
    expect(bodyClientId.status).toBe(429);
    expect(bodyClientId.body['type']).toBe('urn:portcullis:problem:rate-limited');

    const firstGuess = await requestTokenFrom(server, service.client_id, 'wrong-secret', '192.0.2.20');
    expect(firstGuess.status).toBe(401);
    const secondGuess = await requestTokenFrom(server, service.client_id, 'wrong-secret', '192.0.2.20');
    expect(secondGuess.status).toBe(429);
    expect(secondGuess.body['type']).toBe('urn:portcullis:problem:rate-limited');
  });

  it('accepts the right secret at a guessing address', async () => {
    const neighbour = await addClient(server);
    for (let index = 0; index < 8; index += 1) {
      expect((await requestTokenFrom(server, `guess-${index}`, 'wrong-secret', '192.0.2.40')).status).toBe(401);
    }
    expect((await requestTokenFrom(server, 'guess-9', 'wrong-secret', '192.0.2.40')).status).toBe(401);
    expect((await requestTokenFrom(server, 'guess-9', 'wrong-secret', '192.0.2.40')).status).toBe(429);

    for (let attempt = 0; attempt < 3; attempt += 1) {
      const accepted = await requestTokenFrom(server, neighbour.client_id, neighbour.client_secret, '192.0.2.40');
      expect(accepted.status, `attempt ${attempt}`).toBe(200);
    }
  });
});

/** Thresholds of the tests, with delays long enough that no 429 a test expects runs out first. */
const THRESHOLDS = { clientThreshold: 3, window: '15m', baseDelay: '30s', maxDelay: '15m' };

/** Starts Portcullis behind a trusted proxy at 127.0.0.1, so tests choose the client address with X-Forwarded-For. */
async function startThrottledServer(rateLimit: Record<string, unknown>): Promise<TestServer> {
  const config = await writeConfigFile({ rateLimit: { ...defaultRateLimits(), trustedProxies: ['127.0.0.1'], ...rateLimit } });
  return startTestServer({ config });
}

/** Requests a client credentials token with client_secret_basic as `clientId` from `address` and returns the HTTP outcome. */
function requestTokenFrom(server: TestServer, clientId: string, secret: string, address: string): Promise<Exchange> {
  return exchange(server, clientId, secret, address, (config) => client.clientCredentialsGrant(config, { scope: 'orders:read' }));
}

/** Runs one openid-client operation with client_secret_basic as `clientId` from `address` and returns the HTTP outcome. */
async function exchange(
  server: TestServer,
  clientId: string,
  secret: string,
  address: string,
  operation: (config: client.Configuration) => Promise<unknown>,
): Promise<Exchange> {
  let last: Response | undefined;
  const config = new client.Configuration(clientEndpointMetadata(server), clientId, undefined, client.ClientSecretBasic(secret));
  client.allowInsecureRequests(config);
  config[client.customFetch] = async (url, options) => {
    const headers = new Headers(options.headers);
    headers.set('x-forwarded-for', address);
    last = await fetch(url, { method: options.method, headers, body: options.body as RequestInit['body'], redirect: 'manual' });
    return last.clone();
  };

  await operation(config).catch(() => undefined);
  if (last === undefined) {
    throw new Error('no request was sent');
  }
  return { status: last.status, retryAfter: last.headers.get('retry-after'), body: (await last.json()) as Record<string, unknown> };
}

/** Sends a token request whose client id is in the body, as public and private_key_jwt clients send it. */
async function postTokenRequest(server: TestServer, body: string, address: string): Promise<Exchange> {
  const response = await fetch(`${server.issuer}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': address },
    body,
  });
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as Record<string, unknown> };
}

/** Sends wrong secrets up to the per-client threshold, checking each is `invalid_client`, and returns the outcome of one more. */
async function failUntilThrottledOn(server: TestServer, clientId: string, address: string): Promise<Exchange> {
  for (let attempt = 1; attempt <= THRESHOLDS.clientThreshold; attempt += 1) {
    const rejected = await requestTokenFrom(server, clientId, 'wrong-secret', address);
    expect(rejected.status).toBe(401);
    expect(rejected.body['error']).toBe('invalid_client');
  }
  return requestTokenFrom(server, clientId, 'wrong-secret', address);
}

/** Stores the client's secret sealed instead of hashed, as earlier versions stored every client secret. */
async function sealSecret(server: TestServer, created: CreatedClient): Promise<void> {
  const db = server.running.db;
  const row = await db.selectFrom('clients').select('metadata').where('client_id', '=', created.client_id).executeTakeFirstOrThrow();
  const { client_secret_hash: _hash, ...metadata } = JSON.parse(row.metadata) as Record<string, unknown>;
  const box = new SecretBox(loadServerSecret(server.dataDir), 'client secrets');
  const sealed = { ...metadata, sealed_client_secret: await box.seal(created.client_secret) };
  await db.updateTable('clients').set({ metadata: JSON.stringify(sealed) }).where('client_id', '=', created.client_id).execute();
}

function withoutVaryingParts(body: Record<string, unknown>): Record<string, unknown> {
  return { ...body, request_id: undefined, detail: String(body['detail']).replace(/\d+/g, 'N') };
}

async function addClient(server: TestServer): Promise<CreatedClient> {
  const result = await runCli(['clients', 'add', '--name', 'Service', '--json', '--data-dir', server.dataDir, '--confidential', '--grant', 'client_credentials', '--scope', 'orders:read']);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as CreatedClient;
}
