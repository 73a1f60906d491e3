import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openApiKeyStore, type ApiKeyStoreOptions } from '../../src/library/api-key-store.js';
import { createDataDirWithKey } from '../support/api-key-data-dir.js';

describe('library API key store', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'portcullis-key-store-'));
    await createDataDirWithKey(dataDir);
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
});
