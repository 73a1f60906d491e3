import { readFile } from 'node:fs/promises';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load.js';
import { publishedConfigSchema } from '../../src/config/published-schema.js';

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

interface SchemaNode {
  properties?: Record<string, SchemaNode>;
  default?: unknown;
}

/** Lists the path and `default` of every option in `node` that has one, outside lists. */
function schemaDefaults(node: SchemaNode, path: string[] = []): Array<[string[], unknown]> {
  const found: Array<[string[], unknown]> = [];
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    if (child.default !== undefined) {
      found.push([[...path, key], child.default]);
    }
    found.push(...schemaDefaults(child, [...path, key]));
  }
  return found;
}

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

  it('gives the defaults that loading applies', () => {
    const schema = publishedConfigSchema() as SchemaNode;
    const defaults = new Map(schemaDefaults(schema).map(([path, value]) => [path.join('.'), value]));
    expect(defaults.get('tokens.refreshToken')).toBe(1_209_600);
    expect(defaults.get('gateway.revocationCheckTtlMs')).toBe(1000);
    expect(defaults.get('rateLimit.signIn.onStoreFailure')).toBe('closed');
    expect(defaults.get('apiKeys.rotationGrace')).toBe('24h');
    expect(defaults.has('issuer')).toBe(false);

    const config = loadConfig({ dataDir: 'data' }, {});
    // Loading folds the single-upstream shorthand into `upstreams`.
    expect(config.gateway.upstreams[0]?.mountPath).toBe(defaults.get('gateway.mountPath'));
    expect(config.gateway.upstreams[0]?.url).toBe(null);
    expect(defaults.get('gateway.upstreamUrl')).toBe(null);

    const loaded = config as unknown as Record<string, unknown>;
    const shorthand = ['gateway.mountPath', 'gateway.upstreamUrl'];
    for (const [path, value] of schemaDefaults(schema)) {
      // Loading resolves dataDir to an absolute path, and lists are not given defaults here.
      if (path.includes('dataDir') || path.includes('upstreams') || shorthand.includes(path.join('.')) || Array.isArray(value)) {
        continue;
      }
      const actual = path.reduce<unknown>((parent, key) => (parent as Record<string, unknown> | undefined)?.[key], loaded);
      expect(actual, path.join('.')).toEqual(value);
    }
  });
});
