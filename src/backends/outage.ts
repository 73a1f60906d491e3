import { ProblemError } from '../core/problem.js';

/** Seconds a client is asked to wait before retrying while a backend is down. */
export const OUTAGE_RETRY_AFTER_SECONDS = 5;

/** Socket errors that mean the backend cannot be reached, as Node.js reports them. */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND']);

/**
 * SQLite result codes that mean the database file cannot be used right now.
 * Another process held the lock past the busy timeout, the file became
 * read-only, or the disk is full or failing. better-sqlite3 reports the
 * extended code, such as SQLITE_BUSY_SNAPSHOT or SQLITE_IOERR_WRITE.
 */
const SQLITE_OUTAGE_CODES = /^SQLITE_(BUSY|LOCKED|READONLY|IOERR|FULL|CANTOPEN)(_|$)/;

/**
 * Messages of node-postgres (8.x) and ioredis (5.x) errors that carry no code
 * but mean the connection is gone or could not be made in time.
 */
const OUTAGE_MESSAGES = [
  'Connection terminated',
  'Query read timeout',
  'timeout exceeded when trying to connect',
  'Connection is closed',
  "Stream isn't writeable",
  'Command timed out',
  'Reached the max retries per request limit',
  'All sentinels are unreachable',
  'Failed to refresh slots cache',
  'Cluster isn\'t ready',
];

/**
 * PostgreSQL SQLSTATE codes that mean the server cannot serve for a while.
 * Class 08 is a connection exception, and class 53 insufficient resources,
 * such as 53300 for a server at `max_connections`, which several instances
 * reach sooner than one, and 53100 for a full disk. 57P01 to 57P03 are an
 * administrator shutdown, a crash and a server still starting, and 25006
 * a write sent to a read-only standby, as after a failover.
 */
const POSTGRES_OUTAGE_CODES = /^(08[0-9A-Z]{3}|53[0-9A-Z]{3}|57P0[1-3]|25006)$/;

/**
 * Error replies with which Redis refuses commands for a while. LOADING
 * comes after a restart, READONLY from a replica after a failover and
 * MASTERDOWN from a replica without its master. BUSY means a script runs
 * too long, TRYAGAIN and CLUSTERDOWN a cluster that reshards or lost a
 * master, and MISCONF, OOM and NOREPLICAS a Redis that cannot persist or
 * store data. Redis at its `maxclients` sends `ERR max number of clients
 * reached` on a new connection, the counterpart of PostgreSQL's 53300.
 * ioredis (5.x) raises each as a ReplyError whose message starts with the
 * code.
 */
const REDIS_UNAVAILABLE_REPLY = /^((LOADING|READONLY|MASTERDOWN|BUSY|TRYAGAIN|CLUSTERDOWN|MISCONF|OOM|NOREPLICAS) |ERR max number of clients reached)/;

/**
 * Tells whether `error` (or an error in its cause chain) means that
 * PostgreSQL or Redis is unreachable or refuses work for a while, or that
 * the SQLite file is locked, read-only or out of space, as opposed to a bug
 * or bad input.
 *
 * Node.js raises the error of an incoming request whose caller left with
 * the same ECONNRESET code, so an error handler rules that case out first
 * (`isCallerDisconnect` in src/http/problems.ts).
 */
export function isBackendOutage(error: unknown): boolean {
  return isOutageAt(error, 0);
}

/** Checks `error` and its causes, `depth` levels below the error that isBackendOutage was given. */
function isOutageAt(error: unknown, depth: number): boolean {
  for (let current = error; current instanceof Error && depth < 5; current = current.cause, depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && (SOCKET_CODES.has(code) || POSTGRES_OUTAGE_CODES.test(code) || SQLITE_OUTAGE_CODES.test(code))) {
      return true;
    }
    if (OUTAGE_MESSAGES.some((message) => current instanceof Error && current.message.includes(message))) {
      return true;
    }
    if (current.name === 'ReplyError' && REDIS_UNAVAILABLE_REPLY.test(current.message)) {
      return true;
    }
    // A Redis that refuses the commands of a MULTI aborts the transaction
    // with EXECABORT, or rejects EXEC without MULTI when it refused MULTI
    // too. ioredis (5.x) then lists the refusals in `previousErrors`.
    const previousErrors: unknown = (current as { previousErrors?: unknown }).previousErrors;
    if (Array.isArray(previousErrors) && previousErrors.some((previous) => isOutageAt(previous, depth + 1))) {
      return true;
    }
  }
  return false;
}

/** Builds the 503 problem returned during a backend outage. */
export function outageProblem(cause: unknown): ProblemError {
  return new ProblemError('service_unavailable', 'A storage backend of the server is unavailable. Retry shortly.', {
    headers: { 'retry-after': String(OUTAGE_RETRY_AFTER_SECONDS) },
    cause,
  });
}
