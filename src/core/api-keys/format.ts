import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

/**
 * API key format.
 *
 *   api-key     = "pcs_" environment "_" key-id secret "_" checksum
 *   environment = "live" / "test"
 *   key-id      = 12 base62 characters (public, names the key in the store)
 *   secret      = 43 base62 characters (256 bits from crypto.randomBytes)
 *   checksum    = 6 base62 characters: CRC-32 of everything before the last "_"
 *   base62      = "0"-"9" / "A"-"Z" / "a"-"z"
 *
 * A key is 71 characters long. The fixed prefix lets secret scanners find leaked keys. The checksum
 * lets the gateway reject a mistyped or truncated key without a store
 * look-up. Base62 keeps the key one word for double-click selection.
 */

export const API_KEY_PREFIX = 'pcs';
export const API_KEY_ENVIRONMENTS = ['live', 'test'] as const;
export type ApiKeyEnvironment = (typeof API_KEY_ENVIRONMENTS)[number];

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const KEY_ID_LENGTH = 12;
const SECRET_LENGTH = 43;
const CHECKSUM_LENGTH = 6;
const KEY_PATTERN = /^pcs_(live|test)_([0-9A-Za-z]{12})([0-9A-Za-z]{43})_([0-9A-Za-z]{6})$/;

/** Length of every well-formed key, in characters. */
export const API_KEY_LENGTH = 4 + 5 + KEY_ID_LENGTH + SECRET_LENGTH + 1 + CHECKSUM_LENGTH;

function toBase62(bytes: Uint8Array, length: number): string {
  let value = 0n;
  for (const byte of bytes) {
    value = (value << 8n) | BigInt(byte);
  }

  let text = '';
  while (value > 0n) {
    text = BASE62[Number(value % 62n)] + text;
    value /= 62n;
  }
  return text.padStart(length, '0').slice(-length);
}

/**
 * Returns the checksum of a key body: its CRC-32 in base62. The gateway
 * computes it for every presented key, so it divides plain numbers, which
 * hold any 32-bit value exactly, instead of the BigInt of toBase62.
 */
function checksum(body: string): string {
  let value = crc32(body) >>> 0;

  let text = '';
  while (value > 0) {
    text = BASE62[value % 62] + text;
    value = Math.floor(value / 62);
  }
  return text.padStart(CHECKSUM_LENGTH, '0');
}

/** A newly generated key: the full value, shown once, and its public id. */
export interface GeneratedApiKey {
  value: string;
  keyId: string;
  environment: ApiKeyEnvironment;
}

/** Builds a key from its parts, adding the checksum. */
export function assembleApiKey(environment: ApiKeyEnvironment, keyId: string, secret: string): string {
  const body = `${API_KEY_PREFIX}_${environment}_${keyId}${secret}`;
  return `${body}_${checksum(body)}`;
}

/** Generates a key with 256 random bits in its secret part. */
export function generateApiKey(environment: ApiKeyEnvironment): GeneratedApiKey {
  // 9 bytes give 72 bits, enough for 12 base62 characters of id.
  const keyId = toBase62(randomBytes(9), KEY_ID_LENGTH);
  const secret = toBase62(randomBytes(32), SECRET_LENGTH);
  return { value: assembleApiKey(environment, keyId, secret), keyId, environment };
}

export type ParsedApiKey =
  | { valid: true; keyId: string; environment: ApiKeyEnvironment }
  | { valid: false; reason: string };

/**
 * Checks a presented key's shape and checksum, without any store look-up.
 * The reason is general on purpose and never contains the key.
 */
export function parseApiKey(value: string): ParsedApiKey {
  if (!value.startsWith(`${API_KEY_PREFIX}_`)) {
    return { valid: false, reason: 'the API key does not start with the pcs_ prefix' };
  }

  if (value.length !== API_KEY_LENGTH) {
    return { valid: false, reason: 'the API key has the wrong length' };
  }

  const match = KEY_PATTERN.exec(value);
  if (match === null) {
    return { valid: false, reason: 'the API key contains characters outside its format' };
  }

  const [, environment, keyId, , presentedChecksum] = match;
  const body = value.slice(0, value.lastIndexOf('_'));
  if (checksum(body) !== presentedChecksum) {
    return { valid: false, reason: 'the API key checksum does not match; it may be mistyped or truncated' };
  }

  return { valid: true, keyId: keyId as string, environment: environment as ApiKeyEnvironment };
}
