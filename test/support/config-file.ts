import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { stringify } from 'yaml';

/** Writes a YAML configuration file in the temporary directory and returns its path. */
export async function writeConfigFile(content: unknown): Promise<string> {
  const path = join(tmpdir(), `portcullis-config-${randomUUID()}.yaml`);
  await writeFile(path, typeof content === 'string' ? content : stringify(content));
  return path;
}

export const REDIS_URL = process.env['PORTCULLIS_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
