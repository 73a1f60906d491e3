import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { writeConfigFile } from '../support/config-file.js';
import { callApi, obtainTokens } from '../support/oauth.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../support/scripted-upstream.js';
import { startTestServer, type TestServer } from '../support/server.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/route-paths.yaml', import.meta.url));

/** Starts an upstream that responds 204 to every request and records its target in `forwarded`. */
async function recordingUpstream(forwarded: string[]): Promise<ScriptedUpstream> {
  const upstream = await startScriptedUpstream();
  upstream.respond((request, response) => {
    forwarded.push(request.url ?? '');
    response.writeHead(204).end();
  });
  return upstream;
}

describe('gateway path templates', () => {
  let upstream: ScriptedUpstream;
  let server: TestServer;
  let token: string;
  const forwarded: string[] = [];

  beforeAll(async () => {
    upstream = await recordingUpstream(forwarded);
    const config = await writeConfigFile({ gateway: { upstreamUrl: upstream.url, openapi: FIXTURE }, rateLimit: { flows: [] } });
    server = await startTestServer({ config });
    token = (await obtainTokens(server, await createUser(server, 'path_user'))).tokens.access_token;
  });

  afterAll(async () => {
    await server.close();
    await upstream.close();
  });

  async function call(path: string, method = 'GET'): Promise<{ status: number; upstreamPath: string | undefined; code: string | undefined }> {
    forwarded.length = 0;
    const response = await callApi(server, path, token, { method });
    const body = response.status === 204 ? undefined : ((await response.json()) as { code?: string });
    return { status: response.status, upstreamPath: forwarded[0], code: body?.code };
  }

  it('forwards a literal colon', async () => {
    expect(await call('/v1/orders:batchGet')).toEqual({ status: 204, upstreamPath: '/v1/orders:batchGet', code: undefined });
  });

  it('rejects a path the colon would have matched', async () => {
    const result = await call('/v1/ordersX');
    expect(result.status).toBe(404);
    expect(result.upstreamPath).toBeUndefined();
  });

  it('validates a parameter before a custom method', async () => {
    expect(await call('/orders/7:cancel', 'POST')).toEqual({ status: 204, upstreamPath: '/orders/7:cancel', code: undefined });

    const invalid = await call('/orders/x:cancel', 'POST');
    expect(invalid.status).toBe(400);
    expect(invalid.code).toBe('validation_failed');
    expect(invalid.upstreamPath).toBeUndefined();
  });

  it('forwards a parameter before a suffix', async () => {
    expect(await call('/files/a.b.json')).toEqual({ status: 204, upstreamPath: '/files/a.b.json', code: undefined });
    expect((await call('/files/a.b')).status).toBe(404);
  });

  it('rejects a parameter that spells a sibling path', async () => {
    // Express and ASP.NET Core match paths without regard to case, and Rails
    // reads a '.json' suffix as the format, so they would serve these
    // requests from /reports/export, which needs the admin scope.
    for (const path of ['/reports/EXPORT', '/reports/Export', '/reports/export.json', '/reports/EXPORT.csv', '/reports/e%58port']) {
      const result = await call(path);
      expect(result, path).toEqual({ status: 404, upstreamPath: undefined, code: 'not_found' });
    }

    expect((await call('/reports/export')).code).toBe('insufficient_scope');
    expect(await call('/reports/exports')).toEqual({ status: 204, upstreamPath: '/reports/exports', code: undefined });
    expect(await call('/reports/r-7.json')).toEqual({ status: 204, upstreamPath: '/reports/r-7.json', code: undefined });
  });

  it('serves the root only with its slash', async () => {
    expect(await call('/')).toEqual({ status: 204, upstreamPath: '/', code: undefined });
    expect((await call('')).status).toBe(404);
  });
});

describe('gateway mount paths on one service', () => {
  const secured = (scope: string) => ({ security: [{ oauth: [scope] }], responses: { '204': { description: 'Done.' } } });
  const documentWith = (paths: Record<string, unknown>) => ({
    openapi: '3.0.3',
    info: { title: 'Shared service', version: '1' },
    components: { securitySchemes: { oauth: { type: 'http', scheme: 'bearer' } } },
    paths,
  });
  const idParameter = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };

  let upstream: ScriptedUpstream;
  let server: TestServer;
  let token: string;
  const forwarded: string[] = [];

  beforeAll(async () => {
    upstream = await recordingUpstream(forwarded);
    const shop = await writeConfigFile(documentWith({ '/orders/{id}': { parameters: [idParameter], get: secured('orders:read') } }));
    const office = await writeConfigFile(documentWith({ '/orders/export': { get: secured('admin') }, '/reports/{id}': { parameters: [idParameter], get: secured('admin') } }));
    const config = await writeConfigFile({
      gateway: {
        upstreams: [
          { name: 'shop', url: upstream.url, mountPath: '/shop', openapi: shop },
          { name: 'office', url: upstream.url, mountPath: '/office', openapi: office },
        ],
      },
      rateLimit: { flows: [] },
    });
    server = await startTestServer({ config });
    token = (await obtainTokens(server, await createUser(server, 'mount_user'))).tokens.access_token;
  });

  afterAll(async () => {
    await server.close();
    await upstream.close();
  });

  async function call(path: string): Promise<{ status: number; upstreamPath: string | undefined }> {
    forwarded.length = 0;
    const response = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: response.status, upstreamPath: forwarded[0] };
  }

  it('rejects a parameter naming another mount', async () => {
    // The service routes /orders/export to its export handler, which the
    // office mount path requires the admin scope for.
    for (const path of ['/shop/orders/export', '/shop/orders/EXPORT', '/shop/orders/export.json']) {
      expect(await call(path), path).toEqual({ status: 404, upstreamPath: undefined });
    }

    expect(await call('/shop/orders/o-7')).toEqual({ status: 204, upstreamPath: '/orders/o-7' });
    expect((await call('/office/orders/export')).status).toBe(403);
  });
});
