import type { Logger } from 'pino';
import { v7 as timeOrderedUuid } from 'uuid';

import { MAX_DETAIL_LENGTH, MAX_FIELD_LENGTH, type AuditEvent, type AuditRecord } from './events.js';

/** Destination of the trail's batches: the audit_events table in production. */
export interface AuditStore {
  insert(records: readonly AuditRecord[]): Promise<void>;
}

export interface AuditTrailOptions {
  /** How long records wait before they are written, at most, in milliseconds. Default 1000. */
  flushIntervalMs?: number;
  /** Records written in one statement; a full batch is written at once. Default 200. */
  batchSize?: number;
  /** Records held while the store is slow or failing; newer records are dropped beyond it (they still reach the log). Default 10000. */
  maxQueued?: number;
  /** Called when a batch cannot be written, after the failure is logged. */
  onWriteError?: (error: unknown, records: number) => void;
}

export type AuditListener = (record: AuditRecord) => void;

function bounded(value: string | null | undefined, length: number): string | null {
  if (value === undefined || value === null || value === '') {
    return null;
  }
  return value.length > length ? value.slice(0, length) : value;
}

/**
 * Builds the stored form of an event: an id, the current time, and every field present and cut to its maximum length.
 * The id is a UUIDv7 (RFC 9562), which this process issues in increasing order, so events of the same millisecond keep the order in which they were reported.
 */
export function toAuditRecord(event: AuditEvent): AuditRecord {
  return {
    id: timeOrderedUuid(),
    time: Date.now(),
    type: event.type,
    outcome: event.outcome,
    actor: bounded(event.actor, MAX_FIELD_LENGTH),
    clientId: bounded(event.clientId, MAX_FIELD_LENGTH),
    keyId: bounded(event.keyId, MAX_FIELD_LENGTH),
    sourceAddress: bounded(event.sourceAddress, MAX_FIELD_LENGTH),
    requestId: bounded(event.requestId, MAX_FIELD_LENGTH),
    reason: bounded(event.reason, MAX_FIELD_LENGTH),
    detail: bounded(event.detail, MAX_DETAIL_LENGTH),
  };
}

/**
 * Writes security events to the log at once and to the store in batches, so
 * a request never waits for the database. A failed write is logged and the
 * batch dropped, so the request that reported the event never sees the error.
 */
export class AuditTrail {
  readonly #store: AuditStore;
  readonly #logger: Logger;
  readonly #batchSize: number;
  readonly #maxQueued: number;
  readonly #onWriteError: (error: unknown, records: number) => void;
  readonly #listeners: AuditListener[] = [];
  readonly #timer: NodeJS.Timeout;
  #queue: AuditRecord[] = [];
  #dropped = 0;
  #writing: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(store: AuditStore, logger: Logger, options: AuditTrailOptions = {}) {
    this.#store = store;
    this.#logger = logger;
    this.#batchSize = options.batchSize ?? 200;
    this.#maxQueued = options.maxQueued ?? 10_000;
    this.#onWriteError = options.onWriteError ?? (() => {});
    this.#timer = setInterval(() => void this.flush(), options.flushIntervalMs ?? 1000);
    this.#timer.unref();
  }

  /** Adds a listener that receives every record as it is reported, such as the metrics. */
  subscribe(listener: AuditListener): void {
    this.#listeners.push(listener);
  }

  /** Reports an event. Never throws and never waits for the store. */
  record(event: AuditEvent): void {
    const record = toAuditRecord(event);

    this.#logger.info({ audit: record }, `audit ${record.type}`);
    for (const listener of this.#listeners) {
      try {
        listener(record);
      } catch (error) {
        this.#logger.error({ err: error, type: record.type }, 'audit listener failed');
      }
    }

    if (this.#closed || this.#queue.length >= this.#maxQueued) {
      this.#dropped += 1;
      return;
    }
    this.#queue.push(record);
    if (this.#queue.length >= this.#batchSize) {
      void this.flush();
    }
  }

  /** Writes every queued record; resolves when they are stored or their failure is logged. */
  flush(): Promise<void> {
    this.#writing = this.#writing.then(() => this.#writeQueued());
    return this.#writing;
  }

  /** Writes what is queued and stops the timer; later records only reach the log. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
    this.#closed = true;
  }

  // NOTE: better-sqlite3 runs each batch insert synchronously on the event
  // loop, so a batch delays other requests for as long as its insert takes.
  async #writeQueued(): Promise<void> {
    if (this.#dropped > 0) {
      this.#logger.warn({ dropped: this.#dropped }, 'audit records dropped because the queue was full; they are only in the log');
      this.#dropped = 0;
    }

    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#batchSize);
      try {
        await this.#store.insert(batch);
      } catch (error) {
        this.#logger.error({ err: error, records: batch.length }, 'writing audit records failed; they are only in the log');
        this.#onWriteError(error, batch.length);
      }
    }
  }
}
