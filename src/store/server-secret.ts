import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const SERVER_SECRET_FILE = 'server-secret';

/** Size of the server secret, in bytes (256 bits). */
const SECRET_BYTES = 32;

/**
 * Reads the server secret from `dataDir`, creating it on first start.
 *
 * The secret lives in its own file with mode 0600, outside the database, so a
 * database dump alone cannot unseal client secrets or signing keys.
 */
export function loadServerSecret(dataDir: string): Buffer {
  const path = join(dataDir, SERVER_SECRET_FILE);
  // With PostgreSQL nothing else creates the data directory.
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });

  try {
    writeFileSync(path, randomBytes(SECRET_BYTES).toString('base64url'), { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw error;
    }
  }

  const secret = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64url');
  if (secret.length !== SECRET_BYTES) {
    throw new Error(`The server secret in ${path} is not ${SECRET_BYTES} bytes of base64url; restore it from backup`);
  }

  return secret;
}
