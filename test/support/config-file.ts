import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { stringify } from 'yaml';

import { ConfigError } from '../../src/config/load.js';

/**
 * Prefix of the Redis keys and channels of this test process. Other test
 * files and other checkouts on the machine share the Redis server, and their
 * counters (failed sign-ins from 127.0.0.1 above all) must not leak in.
 */
export const REDIS_KEY_PREFIX = `portcullis-test-${randomUUID()}:`;

/**
 * Writes a YAML configuration file in the temporary directory and returns its
 * path. An object gets this process's `redisKeyPrefix` unless it sets one.
 */
export async function writeConfigFile(content: unknown): Promise<string> {
  const path = join(tmpdir(), `portcullis-config-${randomUUID()}.yaml`);
  const text = typeof content === 'string' ? content : stringify(withKeyPrefix(content));
  await writeFile(path, text);
  return path;
}

function withKeyPrefix(content: unknown): unknown {
  if (content === null || typeof content !== 'object' || Array.isArray(content) || 'redisKeyPrefix' in content) {
    return content;
  }

  return { redisKeyPrefix: REDIS_KEY_PREFIX, ...content };
}

export const REDIS_URL = process.env['PORTCULLIS_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** Returns the problems of the ConfigError that `action` throws, or none when it succeeds. */
export function problemsOf(action: () => unknown): string[] {
  try {
    action();
  } catch (error) {
    if (error instanceof ConfigError) {
      return error.problems;
    }
    throw error;
  }
  return [];
}
