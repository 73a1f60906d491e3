import type { Kysely } from 'kysely';

import type { AuditEventType, AuditRecord } from '../audit/events.js';
import { storableText } from './database.js';
import type { AuditEventRow, Database } from './schema.js';

export interface AuditQuery {
  /** Oldest event time to return, in milliseconds since the Unix epoch. */
  since: number;
  types?: readonly AuditEventType[];
  /** Maximum number of events, newest first. */
  limit: number;
}

/**
 * Returns a text value in a form that can be stored. Some values are copied from
 * requests, such as a client id as sent, and one U+0000 would make
 * PostgreSQL reject the whole batch of events.
 */
function storable(value: string | null): string | null {
  return value === null ? null : storableText(value);
}

function toRow(record: AuditRecord): AuditEventRow {
  return {
    id: record.id,
    occurred_at: record.time,
    type: record.type,
    outcome: record.outcome,
    actor: storable(record.actor),
    client_id: storable(record.clientId),
    key_id: storable(record.keyId),
    source_address: storable(record.sourceAddress),
    request_id: storable(record.requestId),
    reason: storable(record.reason),
    detail: storable(record.detail),
  };
}

function toRecord(row: AuditEventRow): AuditRecord {
  return {
    id: row.id,
    // Independent of whether the driver returns bigint as a number or a string.
    time: Number(row.occurred_at),
    type: row.type as AuditEventType,
    outcome: row.outcome as AuditRecord['outcome'],
    actor: row.actor,
    clientId: row.client_id,
    keyId: row.key_id,
    sourceAddress: row.source_address,
    requestId: row.request_id,
    reason: row.reason,
    detail: row.detail,
  };
}

/** Stores, queries and purges audit events. */
export class AuditRepository {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** Inserts a batch of events in one statement. */
  async insert(records: readonly AuditRecord[]): Promise<void> {
    if (records.length === 0) {
      return;
    }
    await this.#db.insertInto('audit_events').values(records.map(toRow)).execute();
  }

  /** Returns the events since `query.since`, newest first. Events of one millisecond are ordered by their time-ordered ids. */
  async query(query: AuditQuery): Promise<AuditRecord[]> {
    let select = this.#db.selectFrom('audit_events').selectAll().where('occurred_at', '>=', query.since);
    if (query.types !== undefined && query.types.length > 0) {
      select = select.where('type', 'in', [...query.types]);
    }

    const rows = await select.orderBy('occurred_at', 'desc').orderBy('id', 'desc').limit(query.limit).execute();
    return rows.map(toRecord);
  }

  /** Deletes the events older than `before` (milliseconds since the Unix epoch) and returns how many. */
  async purgeOlderThan(before: number): Promise<number> {
    const result = await this.#db.deleteFrom('audit_events').where('occurred_at', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
