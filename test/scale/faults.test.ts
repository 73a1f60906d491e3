import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { createUser } from '../support/accounts.js';
import { POSTGRES_URL } from '../support/databases.js';
import { REDIS_URL } from '../support/config-file.js';
import { callApi, obtainTokens, openSignInPage } from '../support/oauth.js';
import { startInstances, type TestInstances } from '../support/instances.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { TcpProxy, postgresError } from '../support/tcp-proxy.js';
import { formEndingWith } from '../support/user-agent.js';

const POSTGRES_PORT = Number(new URL(process.env['PORTCULLIS_TEST_POSTGRES_URL'] ?? 'postgres://127.0.0.1:5432').port || 5432);

/** Repeats `request` until it returns `status` or `timeoutMs` passes; returns the last status. */
async function waitForStatus(request: () => Promise<Response>, status: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = 0;
  while (Date.now() < deadline) {
    last = (await request()).status;
    if (last === status) {
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return last;
}

/** Counts the statements running on the PostgreSQL server whose text contains `marker`. */
async function runningQueries(marker: string): Promise<number> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ count: string }>(
      "select count(*) from pg_stat_activity where state = 'active' and position($1 in query) > 0 and pid <> pg_backend_pid()",
      [marker],
    );
    return Number(rows[0]?.count);
  } finally {
    await client.end();
  }
}

/**
 * Starts one instance whose PostgreSQL connection runs through a TCP proxy
 * that the tests cut, and closes both after the suite. The proxy is opened
 * again at the end so that the instance can shut down cleanly.
 */
function instanceBehindPostgresProxy(): { proxy: TcpProxy; cluster: () => TestInstances } {
  const proxy = new TcpProxy(POSTGRES_PORT);
  let cluster: TestInstances | undefined;

  beforeAll(async () => {
    await proxy.start();
    cluster = await startInstances({ count: 1, postgresPort: proxy.port });
  });

  afterAll(async () => {
    await proxy.stop();
    await proxy.start();
    await cluster?.close();
    await proxy.stop();
  });

  return { proxy, cluster: () => cluster as TestInstances };
}

describe('PostgreSQL outage while running', () => {
  const { proxy, cluster } = instanceBehindPostgresProxy();

  it('answers 503 with Retry-After and recovers', async () => {
    const [instance] = cluster().instances;
    const user = await createUser(instance!, `outage_${randomUUID().slice(0, 6)}`);
    const { tokens, config } = await obtainTokens(instance!, user);
    expect((await callApi(instance!, '/orders', tokens.access_token)).status).toBe(200);

    await proxy.stop();

    // Listing API keys reads the database on every request, past any cache.
    const rejected = await callApi(instance!, '/keys', tokens.access_token);
    expect(rejected.status).toBe(503);
    expect(rejected.headers.get('content-type')).toContain('application/problem+json');
    expect(rejected.headers.get('retry-after')).toBe('5');
    const problem = (await rejected.json()) as { code: string; detail: string };
    expect(problem.code).toBe('service_unavailable');
    expect(problem.detail).not.toContain('127.0.0.1');

    const readiness = await fetch(`${instance!.url}/readyz`);
    expect(readiness.status).toBe(503);
    expect(readiness.headers.get('retry-after')).toBe('5');
    expect(((await readiness.json()) as { detail: string }).detail).toBe('Backends not reachable: postgres.');
    expect((await fetch(`${instance!.url}/healthz`)).status).toBe(200);

    const refresh = await fetch(`${instance!.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_id: config.clientMetadata().client_id }),
    });
    expect(refresh.status).toBe(503);
    expect(refresh.headers.get('retry-after')).toBe('5');
    expect(((await refresh.json()) as { error: string }).error).toBe('server_error');

    await proxy.start();

    expect(await waitForStatus(() => fetch(`${instance!.url}/readyz`), 200, 10_000)).toBe(200);
    // The grant written before the outage is still there: the same token works again.
    expect((await callApi(instance!, '/orders', tokens.access_token)).status).toBe(200);
    expect((await callApi(instance!, '/keys', tokens.access_token)).status).toBe(200);
  });
});

describe('PostgreSQL that refuses connections', () => {
  const { proxy, cluster } = instanceBehindPostgresProxy();

  // PostgreSQL refuses connections past max_connections, or while it
  // starts, shuts down or recovers, and cannot open files once its disk is full.
  const refusals = [
    ['53300', 'sorry, too many clients already'],
    ['53100', 'could not extend file: No space left on device'],
    ['53200', 'out of memory'],
    ['57P03', 'the database system is starting up'],
  ];

  it.each(refusals)('answers 503 to SQLSTATE %s', async (code, message) => {
    const [instance] = cluster().instances;
    const user = await createUser(instance!, `refused_${randomUUID().slice(0, 6)}`);
    const { tokens } = await obtainTokens(instance!, user);

    // Closing the open connections makes the pool open new ones, which PostgreSQL refuses.
    await proxy.stop();
    proxy.refuseConnections(postgresError(code!, message!));
    await proxy.start();
    try {
      const rejected = await callApi(instance!, '/keys', tokens.access_token);
      expect(rejected.status).toBe(503);
      expect(rejected.headers.get('retry-after')).toBe('5');
      expect(((await rejected.json()) as { code: string }).code).toBe('service_unavailable');
    } finally {
      proxy.acceptConnections();
    }
    expect(await waitForStatus(() => callApi(instance!, '/keys', tokens.access_token), 200, 10_000)).toBe(200);
  });
});

describe('PostgreSQL outage in the background', () => {
  const { proxy, cluster } = instanceBehindPostgresProxy();

  it('logs the key refresh failure once', async () => {
    const [instance] = cluster().instances;
    const failures = () => instance!.logs.filter((line) => line.includes('"msg":"signing key refresh failed"'));

    await proxy.stop();
    // The key ring polls every 2 seconds. After the first failure is logged,
    // the pause spans two polls or more that must not log again.
    await vi.waitFor(() => expect(failures().length).toBeGreaterThan(0), { timeout: 10_000, interval: 100 });
    await new Promise((resolve) => setTimeout(resolve, 5000));
    expect(failures()).toHaveLength(1);

    await proxy.start();
    const recovered = () => instance!.logs.some((line) => line.includes('signing key refresh failed; succeeded again'));
    const deadline = Date.now() + 10_000;
    while (!recovered() && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(recovered()).toBe(true);
  }, 30_000);
});

describe('PostgreSQL connection dropped mid-query', () => {
  const { proxy, cluster } = instanceBehindPostgresProxy();

  it('fails the query without crashing', async () => {
    const [instance] = cluster().instances;
    const marker = `dropped mid-query ${randomUUID()}`;
    const query = sql.raw(`select pg_sleep(5) -- ${marker}`).execute(instance!.running.db);
    // The connection must drop while the query runs, so the test waits until PostgreSQL reports it running.
    await vi.waitFor(async () => expect(await runningQueries(marker)).toBe(1), { timeout: 10_000, interval: 50 });

    await proxy.stop();
    await expect(query).rejects.toThrow(/Connection terminated/);
    expect(instance!.logs.some((line) => line.includes('PostgreSQL connection failed'))).toBe(true);

    await proxy.start();
    expect(await waitForStatus(() => fetch(`${instance!.url}/readyz`), 200, 10_000)).toBe(200);
  });
});

describe('PostgreSQL silent while running', () => {
  const { proxy, cluster } = instanceBehindPostgresProxy();

  it('answers 503 within the query timeout', async () => {
    const [instance] = cluster().instances;
    const user = await createUser(instance!, `silent_${randomUUID().slice(0, 6)}`);
    const { tokens } = await obtainTokens(instance!, user);
    // Leaves a pooled connection open for the next query.
    expect((await callApi(instance!, '/keys', tokens.access_token)).status).toBe(200);

    proxy.silence();
    const started = Date.now();
    const rejected = await callApi(instance!, '/keys', tokens.access_token);

    expect(rejected.status).toBe(503);
    expect(rejected.headers.get('retry-after')).toBe('5');
    expect(Date.now() - started).toBeLessThan(15_000);

    // The connection that timed out is closed, so a new one serves again.
    proxy.resume();
    expect(await waitForStatus(() => callApi(instance!, '/keys', tokens.access_token), 200, 10_000)).toBe(200);
  }, 40_000);
});

describe('Redis outage while running', () => {
  const proxy = new TcpProxy(6379);
  let cluster: TestInstances;

  beforeAll(async () => {
    await proxy.start();
    cluster = await startInstances({ count: 1, redisUrl: `redis://127.0.0.1:${proxy.port}` });
  });

  afterAll(async () => {
    await proxy.stop();
    await cluster?.close();
  });

  it('reports not ready, keeps serving tokens and recovers', async () => {
    const [instance] = cluster.instances;
    const user = await createUser(instance!, `redis_outage_${randomUUID().slice(0, 6)}`);
    const { tokens } = await obtainTokens(instance!, user);

    await proxy.stop();

    const readiness = await fetch(`${instance!.url}/readyz`);
    expect(readiness.status).toBe(503);
    expect(((await readiness.json()) as { detail: string }).detail).toBe('Backends not reachable: redis, rate-limit store.');
    // JWT checks need only PostgreSQL, and the global limit fails open.
    expect((await callApi(instance!, '/orders', tokens.access_token)).status).toBe(200);

    await proxy.start();
    expect(await waitForStatus(() => fetch(`${instance!.url}/readyz`), 200, 10_000)).toBe(200);
  });
});

describe('Redis error replies while running', () => {
  const proxy = new TcpProxy(Number(new URL(REDIS_URL).port || 6379));
  let server: TestServer | undefined;

  beforeAll(async () => {
    await proxy.start();
    server = await startTestServer({ redisUrl: `redis://127.0.0.1:${proxy.port}` });
  });

  afterAll(async () => {
    await server?.close();
    await proxy.stop();
  });

  // Replies of a Redis that loads its data after a restart, of a replica
  // after a failover, and of a cluster that is resharding or lost a master.
  const unavailable = [
    'LOADING Redis is loading the dataset in memory',
    "READONLY You can't write against a read only replica.",
    'MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to no.',
    'TRYAGAIN Multiple keys request during rehashing of slot',
    'CLUSTERDOWN The cluster is down',
  ];

  it.each(unavailable)('answers 503 to %s', async (reply) => {
    const user = await createUser(server!, `redis_reply_${randomUUID().slice(0, 6)}`);
    // Without an API scope the access token is opaque and kept in Redis.
    const { tokens } = await obtainTokens(server!, { ...user, scope: 'openid profile' });
    const { agent, html } = await openSignInPage(server!);

    proxy.replyWithError(reply);
    let userinfo: Response;
    let signIn: Response;
    try {
      userinfo = await fetch(`${server!.url}/oauth/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      signIn = (await agent.submit(formEndingWith(html, '/login'), { username: user.username, password: user.password })).response;
    } finally {
      proxy.relay();
    }

    expect(userinfo.status).toBe(503);
    expect(userinfo.headers.get('retry-after')).toBe('5');
    expect(await userinfo.json()).toMatchObject({ error: 'server_error' });
    expect(signIn.status).toBe(503);
    expect(signIn.headers.get('retry-after')).toBe('5');
  });
});
