import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load.js';
import { verifyPassword } from '../../src/core/passwords.js';
import type { BootstrapResult } from '../../src/server/bootstrap.js';
import { startPortcullis } from '../../src/server/portcullis.js';
import { AuditRepository } from '../../src/store/audit-repository.js';
import { openDatabase } from '../../src/store/database.js';
import { defaultDatabaseUrl } from '../../src/store/database-url.js';
import { freePort, startTestServer, type TestServer } from '../support/server.js';

describe('first start', () => {
  const servers: TestServer[] = [];

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.close()));
  });

  it('creates an admin with a random password', async () => {
    const first = await startTestServer();
    const second = await startTestServer();
    servers.push(first, second);

    expect(first.admin.username).toBe('admin');
    expect(first.admin.password).not.toBe(second.admin.password);
    expect(first.admin.password.length).toBeGreaterThanOrEqual(24);

    const stored = await first.running.db.selectFrom('accounts').selectAll().where('username_key', '=', 'admin').executeTakeFirstOrThrow();
    expect(stored.password_hash).not.toContain(first.admin.password);
    expect(await verifyPassword(stored.password_hash, first.admin.password)).toBe(true);
    expect(JSON.parse(stored.roles)).toEqual(['admin']);
    expect(first.logs.join('\n')).not.toContain(first.admin.password);
  });

  it('records the admin in the audit trail', async () => {
    const server = await startTestServer();
    servers.push(server);

    await server.running.observability.audit.flush();
    const records = await new AuditRepository(server.running.db).query({ since: 0, types: ['account.created'], limit: 10 });
    const admin = await server.running.db.selectFrom('accounts').select('id').where('username_key', '=', 'admin').executeTakeFirstOrThrow();
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ actor: admin.id, outcome: 'success', reason: 'bootstrap', detail: `account ${admin.id} with roles admin` });
    expect(JSON.stringify(records)).not.toContain(server.admin.password);
  });

  it('keeps the data directory private', async () => {
    const server = await startTestServer();
    servers.push(server);

    const secret = await stat(join(server.dataDir, 'server-secret'));
    expect(secret.mode & 0o777).toBe(0o600);
    const database = await stat(join(server.dataDir, 'portcullis.sqlite'));
    expect(database.isFile()).toBe(true);
    const journal = await server.running.db.selectFrom('accounts').select('id').execute();
    expect(journal.length).toBe(1);
  });

  it('creates nothing again on a restart', async () => {
    const server = await startTestServer();
    const dataDir = server.dataDir;
    await server.running.close();

    const port = await freePort();
    let created: unknown;
    const restarted = await startPortcullis(loadConfig({ port, dataDir, logLevel: 'silent' }, {}), {
      onBootstrap: (result) => {
        created = result;
      },
    });
    expect(created).toEqual({ signingKeysCreated: [] });
    await restarted.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('adds the RS256 key to an older store', async () => {
    const server = await startTestServer();
    const dataDir = server.dataDir;
    await server.running.close();

    // A store of an earlier version holds only an ES256 key. Its
    // administrator removed the demo client, which must not come back.
    const db = await openDatabase(defaultDatabaseUrl(dataDir));
    await db.deleteFrom('signing_keys').where('alg', '=', 'RS256').execute();
    await db.deleteFrom('clients').where('client_id', '=', server.demoClientId).execute();
    const [es256] = await db.selectFrom('signing_keys').select(['kid', 'alg', 'retired_at']).execute();
    await db.destroy();

    let created: BootstrapResult | undefined;
    const logs: string[] = [];
    const restarted = await startPortcullis(loadConfig({ port: await freePort(), dataDir, logLevel: 'info' }, {}), {
      logDestination: { write: (line: string) => void logs.push(line) },
      onBootstrap: (result) => {
        created = result;
      },
    });
    try {
      expect(created).toEqual({ signingKeysCreated: ['RS256'] });
      const notices = logs.map((line) => JSON.parse(line) as { msg: string; algorithms?: string[] }).filter((line) => line.msg === 'signing keys created');
      expect(notices.map((line) => line.algorithms)).toEqual([['RS256']]);
      const keys = await restarted.db.selectFrom('signing_keys').select(['kid', 'alg', 'retired_at']).orderBy('alg').execute();
      expect(keys.map((key) => [key.alg, key.retired_at])).toEqual([
        ['ES256', null],
        ['RS256', null],
      ]);
      expect(keys[0]?.kid).toBe(es256?.kid);
      expect(await restarted.db.selectFrom('clients').select('client_id').execute()).toEqual([]);

      const discovery = (await (await fetch(`${restarted.url}/.well-known/openid-configuration`)).json()) as { id_token_signing_alg_values_supported: string[] };
      expect([...discovery.id_token_signing_alg_values_supported].sort()).toEqual(['ES256', 'RS256']);
    } finally {
      await restarted.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('retries a failed first start', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'portcullis-test-'));
    try {
      // The store rejects RS256 keys, so the first start fails after writing the ES256 key in the same transaction.
      const db = await openDatabase(defaultDatabaseUrl(dataDir));
      await sql`create trigger reject_rsa_key before insert on signing_keys when new.alg = 'RS256' begin select raise(abort, 'RS256 insert rejected'); end`.execute(db);
      await db.destroy();
      const config = loadConfig({ port: await freePort(), dataDir, logLevel: 'silent' }, {});
      await expect(startPortcullis(config, { logDestination: { write: () => undefined } })).rejects.toThrow('RS256 insert rejected');

      const inspected = await openDatabase(defaultDatabaseUrl(dataDir));
      expect(await inspected.selectFrom('signing_keys').select('kid').execute()).toEqual([]);
      expect(await inspected.selectFrom('accounts').select('id').execute()).toEqual([]);
      await sql`drop trigger reject_rsa_key`.execute(inspected);
      await inspected.destroy();

      let created: BootstrapResult | undefined;
      const restarted = await startPortcullis(config, {
        logDestination: { write: () => undefined },
        onBootstrap: (result) => {
          created = result;
        },
      });
      await restarted.close();
      expect(created?.signingKeysCreated).toEqual(['ES256', 'RS256']);
      expect(created?.admin).toBeDefined();
      expect(created?.demoClient).toBeDefined();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('logs where each part listens', async () => {
    const server = await startTestServer();
    servers.push(server);

    const lines = server.logs.map((line) => JSON.parse(line) as { msg: string; url?: string });
    expect(lines.find((line) => line.msg === 'authorization server listening')?.url).toBe(server.url);
    expect(lines.find((line) => line.msg === 'gateway listening')?.url).toBe(`${server.url}/api`);
    expect(lines.find((line) => line.msg === 'demo Orders API listening on loopback')?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });
});
