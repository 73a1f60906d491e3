/**
 * Security events of the audit trail. Each record names who did what, from
 * where and with what outcome. No record carries a credential, password or
 * authorization code.
 */

export const AUDIT_EVENT_TYPES = [
  'login.succeeded',
  'login.failed',
  'logout.succeeded',
  'consent.granted',
  'consent.denied',
  'token.issued',
  'token.refreshed',
  'token.revoked',
  'refresh_token.reuse_detected',
  'api_key.created',
  'api_key.rotated',
  'api_key.revoked',
  'api_key.address_rejected',
  'account.created',
  'account.disabled',
  'account.enabled',
  'account.roles_changed',
  'account.removed',
  'client.created',
  'client.removed',
  'signing_key.rotated',
  'authentication.failed',
  'authorization.denied',
  'rate_limit.exceeded',
  'request.rejected',
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

export type AuditOutcome = 'success' | 'failure' | 'denied';

/** An event as a caller reports it; the trail adds the time. */
export interface AuditEvent {
  type: AuditEventType;
  outcome: AuditOutcome;
  /** Account id of the user, the client id of a machine client, or `cli` for the admin command. */
  actor?: string | null | undefined;
  /** OAuth client id. */
  clientId?: string | null | undefined;
  /** Public API key id (never the key). */
  keyId?: string | null | undefined;
  sourceAddress?: string | null | undefined;
  requestId?: string | null | undefined;
  /** Short machine-readable qualifier from a fixed set per event type, such as a grant type or a policy name. */
  reason?: string | null | undefined;
  /** Human-readable explanation, the same text a client may see in a problem response. */
  detail?: string | null | undefined;
}

/** A stored event: every field present, the time in milliseconds since the Unix epoch. */
export interface AuditRecord {
  id: string;
  time: number;
  type: AuditEventType;
  outcome: AuditOutcome;
  actor: string | null;
  clientId: string | null;
  keyId: string | null;
  sourceAddress: string | null;
  requestId: string | null;
  reason: string | null;
  detail: string | null;
}

/** Actor of the events that the admin command records. */
export const CLI_ACTOR = 'cli';

/** Longest stored `detail`, in characters; longer text is cut. */
export const MAX_DETAIL_LENGTH = 300;

/** Longest stored identifier or reason, in characters. */
export const MAX_FIELD_LENGTH = 200;

export function isAuditEventType(value: string): value is AuditEventType {
  return (AUDIT_EVENT_TYPES as readonly string[]).includes(value);
}
