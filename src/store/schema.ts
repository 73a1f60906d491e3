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

export interface Database {
  accounts: AccountTable;
  clients: ClientTable;
  oidc_payloads: OidcPayloadTable;
  signing_keys: SigningKeyTable;
}

export type { Generated };
