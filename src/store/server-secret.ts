import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { redactUrl } from '../backends/backend-error.js';
import { UnsealError } from '../core/secret-box.js';

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
  const path = serverSecretPath(dataDir);
  // With PostgreSQL nothing else creates the data directory.
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });

  try {
    writeFileSync(path, randomBytes(SECRET_BYTES).toString('base64url'), { flag: 'wx', mode: 0o600 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST') {
      throw new ServerSecretFileError(`the server secret ${path} cannot be created (${code ?? 'error'}); check that this user may write to ${dataDir}`, error);
    }
  }

  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new ServerSecretFileError(`the server secret ${path} cannot be read (${code}); it must be a file that this user may read`, error);
  }

  const secret = Buffer.from(text.trim(), 'base64url');
  if (secret.length !== SECRET_BYTES) {
    throw new ServerSecretFileError(`the server secret in ${path} is not ${SECRET_BYTES} bytes of base64url; restore it from a backup`);
  }

  return secret;
}

/**
 * A server secret file that cannot be created or read, or that contains no
 * secret of the right length. The message names the file, never its content.
 */
export class ServerSecretFileError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'ServerSecretFileError';
  }
}

/** Returns the path of the server secret file in `dataDir`. */
export function serverSecretPath(dataDir: string): string {
  return join(dataDir, SERVER_SECRET_FILE);
}

/**
 * A server secret file that cannot unseal what the database stores, for
 * example one copied from another installation or created anew after the
 * original was lost. The message names both places, never the secret.
 */
export class ServerSecretMismatchError extends Error {
  constructor(secretPath: string, database: string, cause: unknown) {
    super(
      `the server secret in ${secretPath} does not match the database ${redactUrl(database)}, ` +
        'which holds signing keys or client secrets sealed with another secret. ' +
        `Copy the ${SERVER_SECRET_FILE} file of an instance that uses this database (mode 0600), ` +
        'or restore it from a backup, because no other secret can unseal them',
      { cause },
    );
    this.name = 'ServerSecretMismatchError';
  }
}

/**
 * Runs `action`, turning a failure to unseal a stored value into a
 * ServerSecretMismatchError that names the secret file and the database.
 */
export async function reportingSecretMismatch<T>(secretPath: string, database: string, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (error instanceof UnsealError) {
      throw new ServerSecretMismatchError(secretPath, database, error);
    }
    throw error;
  }
}
