import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import { DEMO_OPENAPI_DOCUMENT, loadConfig } from '../../src/config/load.js';
import { runCli } from '../support/cli.js';
import { problemsOf, writeConfigFile } from '../support/config-file.js';
import { freePort } from '../support/server.js';

/** The working directory of the commands that runCli starts. */
const REPOSITORY_ROOT = fileURLToPath(new URL('../..', import.meta.url));

async function problemsForUpstreams(upstreams: unknown[]): Promise<string[]> {
  const file = await writeConfigFile({ gateway: { upstreams } });
  return problemsOf(() => loadConfig({ config: file }, {})).map((problem) => problem.replace(/^portcullis-config-[^:]+: /, ''));
}

const ORDERS = { name: 'orders', url: 'http://127.0.0.1:3000', mountPath: '/api', openapi: DEMO_OPENAPI_DOCUMENT };

describe('upstream configuration', () => {
  it('runs the demo upstream with its binding by default', () => {
    const [upstream, ...others] = loadConfig({}, {}).gateway.upstreams;
    expect(others).toEqual([]);
    expect(upstream?.url).toBeNull();
    expect(upstream?.mountPath).toBe('/api');
    expect(upstream?.openapi).toBe(DEMO_OPENAPI_DOCUMENT);
    expect(upstream?.operations['GET /users/{userId}/orders']?.bindings).toEqual([
      { in: 'path', name: 'userId', claim: 'sub', match: 'equals', bypassRoles: ['admin'] },
    ]);
  });

  it('keeps the demo binding with the demo document', async () => {
    const file = await writeConfigFile({ gateway: { mountPath: '/v1', openapi: DEMO_OPENAPI_DOCUMENT } });
    const [upstream] = loadConfig({ config: file }, {}).gateway.upstreams;
    expect(Object.keys(upstream?.operations ?? {})).toEqual(['GET /users/{userId}/orders']);
  });

  it('drops the demo binding with another document', async () => {
    const file = await writeConfigFile({ gateway: { openapi: 'openapi/other.yaml' } });
    const [upstream] = loadConfig({ config: file }, {}).gateway.upstreams;
    expect(upstream?.url).toBeNull();
    expect(upstream?.operations).toEqual({});
  });

  it('keeps the demo quotas for the demo', () => {
    const flows = loadConfig({}, {}).rateLimit.flows;
    expect(flows.map((flow) => `${flow.method} ${flow.path}`)).toEqual(['POST /orders', 'POST /orders/import']);
  });

  it('drops the demo quotas for other upstreams', async () => {
    const status = { name: 'status', url: 'http://127.0.0.1:3001', mountPath: '/status', openapi: 'status.yaml' };
    const listed = await writeConfigFile({ gateway: { upstreams: [status] } });
    const shorthand = await writeConfigFile({ gateway: { upstreamUrl: 'http://127.0.0.1:3000', openapi: 'status.yaml' } });
    const otherDocument = await writeConfigFile({ gateway: { openapi: 'openapi/other.yaml' } });

    expect(loadConfig({ config: listed }, {}).rateLimit.flows).toEqual([]);
    expect(loadConfig({ config: shorthand }, {}).rateLimit.flows).toEqual([]);
    expect(loadConfig({ config: otherDocument }, {}).rateLimit.flows).toEqual([]);
  });

  it('keeps the demo quotas with the demo routes', () => {
    const flows = loadConfig({ upstreamUrl: 'http://127.0.0.1:3000' }, {}).rateLimit.flows;
    expect(flows).toHaveLength(2);
  });

  it('keeps configured quotas for other upstreams', async () => {
    const flow = { name: 'reports', method: 'POST', path: '/reports', key: ['sub'], limit: 5, period: '1h', onStoreFailure: 'closed' };
    const file = await writeConfigFile({ gateway: { upstreamUrl: 'http://127.0.0.1:3000', openapi: 'reports.yaml' }, rateLimit: { flows: [flow] } });
    expect(loadConfig({ config: file }, {}).rateLimit.flows).toEqual([flow]);
  });

  it('folds the shorthand keys into one upstream', async () => {
    const file = await writeConfigFile({ gateway: { mountPath: '/v1', upstreamUrl: 'http://127.0.0.1:3000' } });
    const config = loadConfig({ config: file }, {});
    expect(config.gateway.upstreams).toHaveLength(1);
    expect(config.gateway.upstreams[0]).toMatchObject({ name: 'default', url: 'http://127.0.0.1:3000', mountPath: '/v1', openapi: null, operations: {} });
    expect(config.gateway.mountPath).toBeUndefined();
  });

  it('fills defaults of listed upstreams', async () => {
    const file = await writeConfigFile({ gateway: { upstreams: [ORDERS, { name: 'status', url: 'http://127.0.0.1:3001', mountPath: '/status', openapi: 'status.yaml', operations: { 'GET /': { public: true } } }] } });
    const [, status] = loadConfig({ config: file }, {}).gateway.upstreams;
    expect(status?.routes).toEqual([]);
    expect(status?.operations['GET /']).toEqual({ scopes: [], roles: [], public: true, bindings: [] });
  });

  it('rejects shorthand keys next to upstreams', async () => {
    const file = await writeConfigFile({ gateway: { upstreamUrl: 'http://127.0.0.1:3000', upstreams: [ORDERS] } });
    const problems = problemsOf(() => loadConfig({ config: file }, {}));
    expect(problems.some((problem) => problem.endsWith('gateway/upstreamUrl: cannot be combined with gateway/upstreams; set it on an entry of gateway/upstreams instead'))).toBe(true);
  });

  it('rejects the URL override next to upstreams', async () => {
    const file = await writeConfigFile({ gateway: { upstreams: [ORDERS] } });
    const problems = problemsOf(() => loadConfig({ config: file }, { PORTCULLIS_UPSTREAM_URL: 'http://127.0.0.1:4000' }));
    expect(problems.some((problem) => problem.includes('PORTCULLIS_UPSTREAM_URL: cannot be combined with gateway/upstreams'))).toBe(true);
  });

  it('rejects duplicate names', async () => {
    const problems = await problemsForUpstreams([ORDERS, { ...ORDERS, mountPath: '/other' }]);
    expect(problems).toEqual(["gateway/upstreams/1/name: 'orders' is already the name of another upstream"]);
  });

  it('rejects overlapping mount paths', async () => {
    const problems = await problemsForUpstreams([ORDERS, { ...ORDERS, name: 'v2', mountPath: '/api/v2' }]);
    expect(problems).toEqual(["gateway/upstreams/1/mountPath: '/api/v2' overlaps the mount path '/api' of upstream 'orders'"]);
  });

  it('accepts mount paths that only share a prefix of characters', async () => {
    expect(await problemsForUpstreams([ORDERS, { ...ORDERS, name: 'apis', mountPath: '/apis' }])).toEqual([]);
  });

  it('rejects a mount path of the authorization server', async () => {
    const problems = await problemsForUpstreams([{ ...ORDERS, mountPath: '/oauth' }]);
    expect(problems).toEqual(["gateway/upstreams/0/mountPath: '/oauth' overlaps '/oauth', which the authorization server serves"]);
  });

  it('rejects unsigned identities for the demo', async () => {
    const problems = await problemsForUpstreams([{ name: 'demo', mountPath: '/api', routes: [{ method: 'GET', path: '/orders', scopes: [], credentials: ['jwt'] }], identityAssertion: false }]);
    expect(problems).toEqual([
      'gateway/upstreams/0/identityAssertion: the demo Orders API accepts only signed identities; keep identityAssertion on, or set url to your own service',
    ]);
  });

  it('rejects invalid dropped header names', async () => {
    const problems = await problemsForUpstreams([{ ...ORDERS, dropRequestHeaders: ['x user', 'x-tenant-*-id', ''] }]);

    expect(problems).toHaveLength(3);
    expect(problems[0]).toContain('gateway/upstreams/0/dropRequestHeaders/0');
    expect(problems[1]).toContain('gateway/upstreams/0/dropRequestHeaders/1');
    expect(problems[2]).toContain('gateway/upstreams/0/dropRequestHeaders/2');
  });

  it('moves dropped headers of the shorthand to its upstream', async () => {
    const file = await writeConfigFile({ gateway: { upstreamUrl: 'http://127.0.0.1:3000', openapi: 'status.yaml', dropRequestHeaders: ['x-user-id'] } });
    const [upstream] = loadConfig({ config: file }, {}).gateway.upstreams;

    expect(upstream?.dropRequestHeaders).toEqual(['x-user-id']);
    expect(loadConfig({}, {}).gateway.upstreams[0]?.dropRequestHeaders).toEqual([]);
  });

  it('rejects an upstream without operations', async () => {
    const problems = await problemsForUpstreams([{ ...ORDERS, openapi: null }]);
    expect(problems).toEqual(["gateway/upstreams/0: declares no operations; set openapi to the upstream's OpenAPI document, or list routes"]);
  });

  it('rejects a sunset before the deprecation', async () => {
    const problems = await problemsForUpstreams([{ ...ORDERS, deprecation: '2027-01-01T00:00:00Z', operations: { listOrders: { sunset: '2026-06-01T00:00:00Z' } } }]);
    expect(problems).toEqual(['gateway/upstreams/0/operations/listOrders: the sunset (2026-06-01T00:00:00Z) is earlier than the deprecation (2027-01-01T00:00:00Z)']);
  });

  it('rejects bindings on a public operation', async () => {
    const binding = { in: 'path', name: 'id', claim: 'sub', match: 'equals' };
    const problems = await problemsForUpstreams([{ ...ORDERS, operations: { getOrder: { public: true, bindings: [binding] } } }]);
    expect(problems).toEqual(['gateway/upstreams/0/operations/getOrder: a public operation has no caller, so it cannot require scopes, roles or bindings']);
  });

  it('validates bindings and dates with the schema', async () => {
    const problems = await problemsForUpstreams([{ ...ORDERS, sunset: 'next year', operations: { getOrder: { bindings: [{ in: 'header', name: 'id', claim: 'sub', match: 'equals' }] } } }]);
    expect(problems).toContain('gateway/upstreams/0/sunset: must match format "date-time"');
    expect(problems).toContain('gateway/upstreams/0/operations/getOrder/bindings/0/in: must be equal to one of the allowed values: path, query, body');
  });

  it('requires a JSON Pointer for body bindings only', async () => {
    const bindings = [
      { in: 'body', name: 'accountId', claim: 'accounts', match: 'oneOf' },
      { in: 'query', name: '/accountId', claim: 'accounts', match: 'oneOf' },
      { in: 'body', name: '/account/id', claim: 'accounts', match: 'oneOf' },
    ];
    const problems = await problemsForUpstreams([{ ...ORDERS, operations: { getOrder: { bindings } } }]);

    expect(problems).toEqual([
      "gateway/upstreams/0/operations/getOrder/bindings/0/name: a body binding names a JSON Pointer to the member, such as '/accountId'",
      "gateway/upstreams/0/operations/getOrder/bindings/1/name: '/accountId' is a JSON Pointer, which only a body binding takes; name the query parameter instead",
    ]);
  });
});

describe('start with an unenforceable policy', () => {
  it('stops with the fix in the message', async () => {
    const document = await writeConfigFile({
      openapi: '3.1.0',
      info: { title: 'fixture', version: '1' },
      paths: { '/status': { get: { responses: {} } } },
    });
    const config = await writeConfigFile({ gateway: { upstreams: [{ name: 'status', url: 'http://127.0.0.1:9', mountPath: '/status', openapi: document }] } });
    const dataDir = await mkdtemp(join(tmpdir(), 'portcullis-policy-'));

    try {
      const result = await runCli(['start', '--config', config, '--port', String(await freePort()), '--data-dir', dataDir]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain("error: Invalid gateway policy: upstream 'status': GET /status declares no security requirement");
      expect(result.stderr).toContain("public: true under operations['GET /status']");
      expect(await readdir(dataDir)).toEqual([]);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('names the operation of an invalid schema', async () => {
    const document = await writeConfigFile({
      openapi: '3.0.3',
      info: { title: 'fixture', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
      paths: { '/status': { get: { responses: { '200': { description: 'ok', content: { 'application/json': { schema: { type: 'text' } } } } } } } },
    });
    const config = await writeConfigFile({ gateway: { upstreams: [{ name: 'status', url: 'http://127.0.0.1:9', mountPath: '/status', openapi: document }] } });
    const dataDir = await mkdtemp(join(tmpdir(), 'portcullis-policy-'));

    try {
      const result = await runCli(['start', '--config', config, '--port', String(await freePort()), '--data-dir', dataDir]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`error: Invalid gateway policy: upstream 'status': ${document}: GET /status: response 200: the schema is invalid: data/type`);
      expect(result.stderr).not.toContain('unexpected failure');
      expect(await readdir(dataDir)).toEqual([]);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('rejects an operation on the API key routes', async () => {
    const pathParameter = { in: 'path', name: 'keyId', required: true, schema: { type: 'string' } };
    const document = await writeConfigFile({
      openapi: '3.1.0',
      info: { title: 'fixture', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
      paths: { '/keys/{keyId}': { delete: { parameters: [pathParameter], responses: { '204': { description: 'deleted' } } } } },
    });
    const config = await writeConfigFile({ gateway: { upstreams: [{ name: 'vault', url: 'http://127.0.0.1:9', mountPath: '/vault', openapi: document }] } });
    const dataDir = await mkdtemp(join(tmpdir(), 'portcullis-policy-'));

    try {
      const result = await runCli(['start', '--config', config, '--port', String(await freePort()), '--data-dir', dataDir]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        "error: Invalid gateway policy: upstream 'vault': DELETE /keys/{keyId} is also the route DELETE /vault/keys/:id of the API key management",
      );
      expect(result.stderr).not.toContain('unexpected failure');
      expect(await readdir(dataDir)).toEqual([]);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('names the resolved path of a missing document', async () => {
    const document = `missing-${randomUUID()}.yaml`;
    const config = await writeConfigFile({ gateway: { upstreams: [{ name: 'status', url: 'http://127.0.0.1:9', mountPath: '/status', openapi: `./${document}` }] } });
    const dataDir = await mkdtemp(join(tmpdir(), 'portcullis-policy-'));

    try {
      const result = await runCli(['start', '--config', config, '--port', String(await freePort()), '--data-dir', dataDir]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`./${document}: does not exist at ${join(REPOSITORY_ROOT, document)}`);
      expect(result.stderr).toContain('a relative path is read from the working directory, not from the configuration file');
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('rejects an unparsable document unquoted', async () => {
    const document = await writeConfigFile('openapi: 3.1.0\nprivate: [Unclosed-Secret-5\n  a: b: c\n');
    const config = await writeConfigFile({ gateway: { upstreams: [{ name: 'status', url: 'http://127.0.0.1:9', mountPath: '/status', openapi: document }] } });
    const dataDir = await mkdtemp(join(tmpdir(), 'portcullis-policy-'));

    try {
      const result = await runCli(['start', '--config', config, '--port', String(await freePort()), '--data-dir', dataDir]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(new RegExp(`${document}: is not valid YAML or JSON at line \\d+, column \\d+`));
      expect(result.stderr).not.toContain('Unclosed-Secret-5');
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
