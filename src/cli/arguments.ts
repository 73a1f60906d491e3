import { parseApiKey } from '../core/api-keys/format.js';
import { secretShape } from '../core/credential-shapes.js';
import { USERNAME_PATTERN } from '../core/registration-rules.js';

/**
 * Quoting of command-line arguments in error messages. Error messages end up
 * in terminal scrollback and CI logs, and an admin sometimes pastes a secret
 * where an id belongs, so an argument with the shape of a secret is
 * described by that shape instead of repeated.
 */

/** Returns `value` in single quotes, or a description of its shape when it looks like a secret. */
export function quoteArgument(value: string): string {
  const shape = secretShape(value);
  if (shape !== undefined) {
    return `(a value with the shape of ${shape}, not repeated here)`;
  }
  return `'${value}'`;
}

/**
 * Returns the message for a username that matches no account. A value that
 * cannot be a username, such as a password typed in its place, is not
 * repeated.
 */
export function unknownUsernameMessage(username: string): string {
  if (!USERNAME_PATTERN.test(username) || secretShape(username) !== undefined) {
    return `no account with the given username: it is not 3 to 30 letters, digits or underscores, so the value is not repeated in case it is a password; run 'portcullis users list' for the usernames`;
  }
  return `no account with username '${username}'`;
}

/**
 * Returns the message for an API key id that matches no active key. When
 * the argument is a whole API key, the message names the key's public id
 * instead of repeating the key.
 */
export function unknownApiKeyIdMessage(id: string): string {
  const parsed = parseApiKey(id);
  if (parsed.valid) {
    return `the argument is a whole API key, not its id, and is not repeated here; pass the key id ${parsed.keyId} instead, and revoke the key if it was exposed`;
  }
  if (secretShape(id) !== undefined) {
    return `no active API key with id ${quoteArgument(id)}; pass the key id that 'portcullis apikeys list' shows`;
  }
  return `no active API key with id '${id}'; run 'portcullis apikeys list' for the ids`;
}
