import { readFile } from 'node:fs/promises';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';

import { publishedConfigSchema } from '../../src/config/published-schema.js';

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

describe('published configuration schema', () => {
  it('matches the committed file', async () => {
    const committed = JSON.parse(await readFile(new URL('../../schema/portcullis.schema.json', import.meta.url), 'utf8')) as unknown;
    expect(committed).toEqual(publishedConfigSchema());
  });

  it('accepts a partial file and rejects unknown keys', () => {
    const ajv = new Ajv({ strict: false });
    addFormats(ajv);
    const validate = ajv.compile(publishedConfigSchema());

    expect(validate({ port: 9000, rateLimit: { global: { limit: 10 } } })).toBe(true);
    expect(validate({ prot: 9000 })).toBe(false);
    expect(validate({ gateway: { routes: [{ method: 'GET', path: '/x' }] } })).toBe(false);
  });

  it('needs only a name and mount path per upstream', () => {
    const ajv = new Ajv({ strict: false });
    addFormats(ajv);
    const validate = ajv.compile(publishedConfigSchema());

    expect(validate({ gateway: { upstreams: [{ name: 'orders', mountPath: '/api', operations: { listOrders: { public: true } } }] } })).toBe(true);
    expect(validate({ gateway: { upstreams: [{ name: 'orders' }] } })).toBe(false);
    expect(validate({ gateway: { upstreams: [{ name: 'orders', mountPath: '/api', operations: { listOrders: { bindings: [{ in: 'path', name: 'id' }] } } }] } })).toBe(false);
  });
});
