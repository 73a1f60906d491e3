import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isBackendOutage } from '../../src/backends/outage.js';
import { createUser } from '../support/accounts.js';
import { callApi, obtainTokens } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

const JSON_HEADERS = { 'content-type': 'application/json' };

describe('SQLite errors as outages', () => {
  it.each(['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_LOCKED', 'SQLITE_READONLY', 'SQLITE_READONLY_DBMOVED', 'SQLITE_IOERR_WRITE', 'SQLITE_FULL', 'SQLITE_CANTOPEN'])(
    'counts %s',
    (code) => {
      expect(isBackendOutage(Object.assign(new Error('sqlite failed'), { code }))).toBe(true);
    },
  );

  it.each(['SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_ERROR', 'SQLITE_MISMATCH', 'SQLITE_BUSYNESS'])('does not count %s', (code) => {
    expect(isBackendOutage(Object.assign(new Error('sqlite failed'), { code }))).toBe(false);
  });
});

describe('SQLite database locked by another process', () => {
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    server = await startTestServer();
    const { tokens } = await obtainTokens(server, await createUser(server, 'lock_user'));
    token = tokens.access_token;
  });

  afterAll(async () => {
    await server.close();
  });

  it('answers 503 with Retry-After and recovers', async () => {
    // A second connection keeps the write lock, as an admin command or a
    // backup tool with an open write transaction would.
    const holder = new SQLite(join(server.dataDir, 'portcullis.sqlite'));
    holder.exec('BEGIN EXCLUSIVE');
    let locked: Response;
    try {
      locked = await callApi(server, '/keys', token, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ name: 'during lock', scopes: ['orders:read'] }) });
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }

    expect(locked.status).toBe(503);
    expect(locked.headers.get('content-type')).toContain('application/problem+json');
    expect(locked.headers.get('retry-after')).toBe('5');
    const problem = (await locked.json()) as { code: string };
    expect(problem.code).toBe('service_unavailable');

    const created = await callApi(server, '/keys', token, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ name: 'after lock', scopes: ['orders:read'] }) });
    expect(created.status).toBe(201);
    const listed = (await (await callApi(server, '/keys', token)).json()) as { items: Array<{ name: string }> };
    expect(listed.items.map((item) => item.name)).toEqual(['after lock']);
  });
});
