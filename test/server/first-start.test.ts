import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load.js';
import { verifyPassword } from '../../src/core/passwords.js';
import { startPortcullis } from '../../src/server/portcullis.js';
import { AuditRepository } from '../../src/store/audit-repository.js';
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
    expect(created).toEqual({ signingKeyCreated: false });
    await restarted.close();
    await rm(dataDir, { recursive: true, force: true });
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
