import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { AuditTrail } from './src/audit/audit-trail.js';
import { AuditRepository } from './src/store/audit-repository.js';
import { openDatabase } from './src/store/database.js';

const db = await openDatabase(mkdtempSync(join(tmpdir(), 'h6-bench-')));
const repository = new AuditRepository(db);
const logger = pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: false }));
const trail = new AuditTrail(repository, logger);
const count = 100_000;
const started = process.hrtime.bigint();
for (let index = 0; index < count; index += 1) {
  trail.record({ type: 'authentication.failed', outcome: 'failure', reason: 'missing_credentials', requestId: 'r', sourceAddress: '127.0.0.1', detail: 'A credential is required.' });
  if (index % 5000 === 4999) await new Promise((resolve) => setImmediate(resolve));
}
const recorded = process.hrtime.bigint();
await trail.close();
const written = process.hrtime.bigint();
const stored = await repository.query({ since: 0, limit: 1_000_000 });
console.log(`record(): ${Number(recorded - started) / 1e3 / count} µs per event; store total ${Number(written - started) / 1e6} ms for ${count}; stored ${stored.length}`);
await db.destroy();
