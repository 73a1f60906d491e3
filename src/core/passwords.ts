import argon2 from 'argon2';

import { normalizePassword } from './registration-rules.js';

/**
 * argon2id parameters: 19 MiB of memory, 2 passes, 1 lane, the minimum that
 * the OWASP Password Storage Cheat Sheet (2023) recommends for argon2id.
 */
const HASH_OPTIONS = {
  type: argon2.argon2id,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
} as const;

/** Hashes a password with argon2id; returns a PHC string that carries its parameters. */
export async function hashPassword(password: string): Promise<string> {
  return argon2.hash(normalizePassword(password), HASH_OPTIONS);
}

async function verifyExact(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}

/**
 * Checks a password against a PHC string; a malformed hash counts as a
 * mismatch. A password that NFC changes is also checked as typed, because
 * hashes stored before passwords were normalized contain it that way.
 */
export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  const normalized = normalizePassword(password);
  if (await verifyExact(hash, normalized)) {
    return true;
  }
  return normalized !== password && verifyExact(hash, password);
}

let decoyHash: Promise<string> | undefined;

/**
 * Spends the same effort as a real password check when no account matched,
 * so response time does not tell whether a username exists.
 */
export async function verifyAgainstDecoy(password: string): Promise<void> {
  decoyHash ??= hashPassword('decoy password for unknown accounts');
  await verifyPassword(await decoyHash, password);
}
