import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openApiKeyStore, type ApiKeyStoreOptions } from '../../src/library/api-key-store.js';
import { openDatabase } from '../../src/store/database.js';
import { defaultDatabaseUrl } from '../../src/store/database-url.js';
import { createDataDirWithKey } from '../support/api-key-data-dir.js';
import { runScript } from '../support/cli.js';

describe('library API key store', () => {
  let dataDir: string;
  let apiKey: { key: string; ownerId: string };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'portcullis-key-store-'));
    apiKey = await createDataDirWithKey(dataDir);
  });

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  // These failed with Node's 'The "path" argument must be of type string'.
  it.each([undefined, '', 42])('rejects the dataDir %j', async (value) => {
    const options = { dataDir: value } as unknown as ApiKeyStoreOptions;
    await expect(openApiKeyStore(options)).rejects.toThrow(RangeError);
    await expect(openApiKeyStore(options)).rejects.toThrow('dataDir must be the path of the data directory of a Portcullis that has started once, such as');
  });

  // The account store imported oidc-provider, which prints a warning on
  // Node.js 20 in every service that opened the store.
  it('opens without loading oidc-provider', async () => {
    const result = await runScript('test/fixtures/open-api-key-store.ts', [dataDir]);

    expect(result.stderr).not.toContain('oidc-provider');
    expect(result.stdout).toBe('opened\n');
    expect(result.code).toBe(0);
  });

  // close() destroyed the database while the last use was still to be
  // written, so the write failed with "driver has already been destroyed".
  it('records the last use before closing', async () => {
    const errors: unknown[] = [];
    const store = await openApiKeyStore({ dataDir, onError: (error) => errors.push(error) });

    const verification = await store.verify(apiKey.key, '127.0.0.1');
    await store.close();

    expect(verification.outcome).toBe('valid');
    expect(errors).toEqual([]);
    const db = await openDatabase(defaultDatabaseUrl(dataDir));
    try {
      const row = await db.selectFrom('api_keys').select('last_used_at').executeTakeFirstOrThrow();
      expect(row.last_used_at).not.toBeNull();
    } finally {
      await db.destroy();
    }
  });
});
