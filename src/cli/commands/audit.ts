import { Option, type Command } from 'commander';

import { AUDIT_EVENT_TYPES, isAuditEventType, type AuditEventType, type AuditRecord } from '../../audit/events.js';
import { parseDuration } from '../../core/duration.js';
import { quoteArgument } from '../arguments.js';
import { withAdminContext } from '../context.js';
import { DATA_DIR_HELP, listOption } from '../options.js';
import { CliError, createOutput, textRow } from '../output.js';


/** Events listed when --limit is not given. */
const DEFAULT_LIMIT = 1000;
const MAX_LIMIT = 100_000;

interface AuditOptions {
  since: string;
  type: string[];
  limit: string;
  dataDir?: string;
  json?: boolean;
}

/** Splits one --type value. An empty one is an error, because an empty list of types would list events of every type. */
function splitList(value: string): string[] {
  const items = value.split(',').map((item) => item.trim()).filter((item) => item !== '');
  if (items.length === 0) {
    throw new CliError(`--type must name at least one event type, got ${quoteArgument(value)}; the types are: ${AUDIT_EVENT_TYPES.join(', ')}`);
  }
  return items;
}

/**
 * An ISO 8601 date, or a date and time with an optional UTC offset, as
 * `Date.parse` reads it. Without an offset, a time is local and a date
 * alone is UTC.
 */
const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?$/;

/**
 * Returns the time of an ISO 8601 value, or undefined for any other text.
 * `Date.parse` alone is not enough: in Node.js 20 it moves 2026-02-30 to
 * March 2, and it reads text after a date, such as `2026-01-01 junk`, as
 * another date.
 */
function parseIsoTime(value: string): number | undefined {
  const match = ISO_TIME.exec(value);
  const time = Date.parse(value);
  if (match === null || Number.isNaN(time)) {
    return undefined;
  }

  const [year, month, day] = match.slice(1, 4).map(Number) as [number, number, number];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth ? time : undefined;
}

/** Parses --since: a duration before now (`15m`, `1h`, `7d`) or an ISO 8601 time. Returns milliseconds since the Unix epoch. */
export function parseSince(value: string, now = Date.now()): number {
  if (/^[1-9][0-9]{0,8}(ms|s|m|h|d)$/.test(value)) {
    return now - parseDuration(value);
  }

  const time = parseIsoTime(value);
  if (time !== undefined) {
    return time;
  }
  throw new CliError(`--since must be a duration such as 15m, 1h or 7d, or an ISO 8601 time such as 2026-01-31T12:00:00Z, got ${quoteArgument(value)}`);
}

function parseTypes(values: readonly string[]): AuditEventType[] {
  for (const value of values) {
    if (!isAuditEventType(value)) {
      throw new CliError(`unknown event type ${quoteArgument(value)}; the types are: ${AUDIT_EVENT_TYPES.join(', ')}`);
    }
  }
  return values as AuditEventType[];
}

function parseLimit(value: string): number {
  // Number() alone would also take ' 5', '1e3' and '0x10'.
  const limit = /^[0-9]+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new CliError(`--limit must be a whole number from 1 to ${MAX_LIMIT}, got ${quoteArgument(value)}`);
  }
  return limit;
}

/** Characters that leave the end of a value in a `name=value` pair unclear, so a value with any of them is quoted. */
const AMBIGUOUS_VALUE = /[\s="\\]/u;

/**
 * Formats one `name=value` pair of a text row. A value can come from the
 * caller, such as the client id of a throttled client authentication, so a
 * value with white space, `=`, a quote or a backslash is written as a JSON
 * string. A client id `x reason=ok` then cannot pass for a second field.
 */
function namedField(name: string, value: string): string {
  return `${name}=${AMBIGUOUS_VALUE.test(value) ? JSON.stringify(value) : value}`;
}

/** Formats a record as one tab-separated line: time, type, outcome, the named fields and the detail. */
export function describeAuditRecord(record: AuditRecord): string {
  const fields: Array<[string, string | null]> = [
    ['actor', record.actor],
    ['client', record.clientId],
    ['key', record.keyId],
    ['address', record.sourceAddress],
    ['request', record.requestId],
    ['reason', record.reason],
  ];
  const named = fields.flatMap(([name, value]) => (value === null ? [] : [namedField(name, value)]));
  const row = [new Date(record.time).toISOString(), record.type, record.outcome, named.join(' ')];
  return textRow(record.detail === null ? row : [...row, record.detail]);
}

/** Registers `portcullis audit`. */
export function registerAuditCommand(program: Command): void {
  program
    .command('audit')
    .description('list security events, newest first (a running server writes them within about a second)')
    .option('--since <time>', 'oldest event: a duration before now such as 1h or 7d, or an ISO 8601 time', '1h')
    .addOption(listOption('--type <type>', `only events of this type; repeatable or comma-separated (${AUDIT_EVENT_TYPES.join(', ')})`, 'all types', splitList))
    .addOption(new Option('--limit <count>', 'maximum number of events').default(String(DEFAULT_LIMIT), String(DEFAULT_LIMIT)))
    .option('--data-dir <path>', DATA_DIR_HELP)
    .option('--json', 'print the events as JSON')
    .action(async (options: AuditOptions) => {
      const since = parseSince(options.since);
      const types = parseTypes(options.type);
      const limit = parseLimit(options.limit);

      await withAdminContext(options.dataDir, async ({ auditEvents }) => {
        const records = await auditEvents.query({ since, types, limit });
        const list = records.map((record) => ({ ...record, time: new Date(record.time).toISOString() }));
        createOutput(options.json === true).result(list, records.map(describeAuditRecord).join('\n') || 'no audit events in this period');
      });
    });
}
