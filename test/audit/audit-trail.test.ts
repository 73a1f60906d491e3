import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { AuditTrail } from '../../src/audit/audit-trail.js';
import { startAuditRetention } from '../../src/audit/retention.js';
import { AuditRepository } from '../../src/store/audit-repository.js';
import { openDatabase } from '../../src/store/database.js';
import { defaultDatabaseUrl } from '../../src/store/database-url.js';
import type { Database } from '../../src/store/schema.js';

const DAY_MS = 86_400_000;

describe('audit trail', () => {
  let dataDir: string;
  let db: Kysely<Database>;
  let repository: AuditRepository;
  let lines: string[];
  let logger: pino.Logger;

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'portcullis-audit-'));
    db = await openDatabase(defaultDatabaseUrl(dataDir));
    repository = new AuditRepository(db);
    lines = [];
    logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  });

  afterEach(async () => {
    await db.destroy().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  });

  it('writes full batches at once', async () => {
    const trail = new AuditTrail(repository, logger, { batchSize: 3, flushIntervalMs: 60_000 });
    for (let index = 0; index < 3; index += 1) {
      trail.record({ type: 'login.succeeded', outcome: 'success', actor: `account-${index}` });
    }

    // The third record fills the batch, which is written long before the one-minute interval.
    const stored = await vi.waitFor(
      async () => {
        const records = await repository.query({ since: 0, limit: 10 });
        expect(records).toHaveLength(3);
        return records;
      },
      { timeout: 5000, interval: 50 },
    );
    expect(stored.map((record) => record.actor).sort()).toEqual(['account-0', 'account-1', 'account-2']);
    await trail.close();
  });

  it('keeps report order within a millisecond', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const trail = new AuditTrail(repository, logger, { flushIntervalMs: 60_000 });
    const actors = Array.from({ length: 50 }, (_, index) => `account-${index}`);
    for (const actor of actors) {
      trail.record({ type: 'authentication.failed', outcome: 'failure', actor });
    }
    vi.useRealTimers();
    await trail.close();

    const stored = await repository.query({ since: 0, limit: 100 });
    expect(new Set(stored.map((record) => record.time)).size).toBe(1);
    expect(stored.map((record) => record.actor).reverse()).toEqual(actors);
  });

  it('logs each record under the audit field', async () => {
    const trail = new AuditTrail(repository, logger);
    trail.record({ type: 'token.issued', outcome: 'success', clientId: 'client-1', reason: 'client_credentials' });
    await trail.close();

    const logged = lines.map((line) => JSON.parse(line) as { audit?: Record<string, unknown> }).filter((line) => line.audit !== undefined);
    expect(logged).toHaveLength(1);
    expect(logged[0]?.audit).toMatchObject({ type: 'token.issued', outcome: 'success', clientId: 'client-1', reason: 'client_credentials' });
  });

  it('cuts long fields', async () => {
    const trail = new AuditTrail(repository, logger);
    trail.record({ type: 'request.rejected', outcome: 'denied', reason: 'r'.repeat(500), detail: 'd'.repeat(1000) });
    await trail.close();

    const [stored] = await repository.query({ since: 0, limit: 1 });
    expect(stored?.reason).toHaveLength(200);
    expect(stored?.detail).toHaveLength(300);
  });

  it('survives a failing store', async () => {
    const failures: number[] = [];
    const trail = new AuditTrail(repository, logger, { onWriteError: (_error, records) => failures.push(records) });
    await db.destroy();

    expect(() => trail.record({ type: 'login.failed', outcome: 'failure', reason: 'invalid_credentials' })).not.toThrow();
    await trail.flush();

    expect(failures).toEqual([1]);
    expect(lines.some((line) => line.includes('writing audit records failed'))).toBe(true);
    await trail.close();
  });

  it('drops records beyond the queue bound', async () => {
    const trail = new AuditTrail(repository, logger, { maxQueued: 2, batchSize: 100, flushIntervalMs: 60_000 });
    for (let index = 0; index < 5; index += 1) {
      trail.record({ type: 'authentication.failed', outcome: 'failure', reason: 'missing_credentials' });
    }
    await trail.close();

    expect(await repository.query({ since: 0, limit: 10 })).toHaveLength(2);
    const warning = lines.map((line) => JSON.parse(line) as { msg: string; dropped?: number }).find((line) => line.dropped !== undefined);
    expect(warning?.dropped).toBe(3);
  });

  it('purges events past the retention period', async () => {
    const now = Date.now();
    const base = { outcome: 'success' as const, actor: null, clientId: null, keyId: null, sourceAddress: null, requestId: null, reason: null, detail: null };
    await repository.insert([
      { ...base, id: 'old', time: now - 10 * DAY_MS, type: 'login.succeeded' },
      { ...base, id: 'recent', time: now - DAY_MS, type: 'login.succeeded' },
    ]);

    const retention = startAuditRetention(repository, 7 * DAY_MS, logger);
    retention.stop();
    await retention.initialPurge;

    const remaining = await repository.query({ since: 0, limit: 10 });
    expect(remaining.map((record) => record.id)).toEqual(['recent']);
  });

  it('filters by type and time', async () => {
    const now = Date.now();
    const base = { outcome: 'success' as const, actor: null, clientId: null, keyId: null, sourceAddress: null, requestId: null, reason: null, detail: null };
    await repository.insert([
      { ...base, id: 'a', time: now - 3000, type: 'login.succeeded' },
      { ...base, id: 'b', time: now - 2000, type: 'token.issued' },
      { ...base, id: 'c', time: now - 1000, type: 'login.succeeded' },
    ]);

    expect((await repository.query({ since: now - 2500, limit: 10 })).map((record) => record.id)).toEqual(['c', 'b']);
    expect((await repository.query({ since: 0, types: ['login.succeeded'], limit: 10 })).map((record) => record.id)).toEqual(['c', 'a']);
    expect((await repository.query({ since: 0, limit: 1 })).map((record) => record.id)).toEqual(['c']);
  });
});
