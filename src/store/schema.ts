import type { Generated } from 'kysely';

/** Kysely table types. Times are Unix epoch seconds; JSON columns hold text. */

export interface AccountTable {
  id: string;
  /** The username as registered, for display. */
  username: string;
  /** The lower-cased username, unique, for case-insensitive look-up. */
  username_key: string;
  /** Lower-cased email address, unique. */
  email: string;
  /** argon2id hash in PHC string format. */
  password_hash: string;
  /** JSON array of role names. */
  roles: string;
  created_at: number;
  updated_at: number;
  /** When the account was disabled; null while it may sign in. */
  disabled_at: number | null;
  /** Sign-in sessions that started at or before this time are void; null when none were revoked. */
  sessions_revoked_at: number | null;
}

export interface ClientTable {
  client_id: string;
  /** JSON client metadata (RFC 7591 names); any client_secret in it is sealed. */
  metadata: string;
  created_at: number;
}

export interface OidcPayloadTable {
  /** oidc-provider model name, for example `Grant` or `RefreshToken`. */
  model: string;
  id: string;
  /** JSON payload as oidc-provider stores it. */
  payload: string;
  grant_id: string | null;
  uid: string | null;
  user_code: string | null;
  expires_at: number | null;
  consumed_at: number | null;
}

export interface SigningKeyTable {
  kid: string;
  alg: string;
  /** The private JWK, sealed with the server secret. */
  private_jwk: string;
  created_at: number;
  /** When a newer key replaced this one; null while it signs. */
  retired_at: number | null;
}

export interface ApiKeyTable {
  /** The public key id, the 12 characters after the environment marker. */
  id: string;
  /** HMAC-SHA-256 of the whole key, keyed with a key derived from the server secret. */
  hash: string;
  environment: string;
  /** The account that owns the key. */
  owner_id: string;
  name: string;
  /** JSON array of scopes. */
  scopes: string;
  /** JSON array of CIDR ranges the key may be used from; empty means any. */
  allowed_cidrs: string;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
  revoked_at: number | null;
  /** The key id of the successor after a rotation. */
  replaced_by: string | null;
  /**
   * The OAuth client whose access token created or rotated the key, which
   * so received its value. It is null for the admin CLI and for keys stored
   * before this column existed.
   */
  client_id: string | null;
}

/** One security event of the audit trail; see src/audit/events.ts. */
export interface AuditEventRow {
  /** Random UUID. */
  id: string;
  /** Milliseconds since the Unix epoch, unlike the other tables, so events within a second keep their order. */
  occurred_at: number;
  type: string;
  outcome: string;
  actor: string | null;
  client_id: string | null;
  key_id: string | null;
  source_address: string | null;
  request_id: string | null;
  reason: string | null;
  detail: string | null;
}

export interface Database {
  api_keys: ApiKeyTable;
  audit_events: AuditEventRow;
  accounts: AccountTable;
  clients: ClientTable;
  oidc_payloads: OidcPayloadTable;
  signing_keys: SigningKeyTable;
}

export type { Generated };
