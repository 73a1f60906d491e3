import { describe, expect, it, vi } from 'vitest';

import type { OperationPolicy, UpstreamConfig } from '../../src/config/schema.js';
import { sharedServiceOperations, UpstreamPolicyError, upstreamRoutes } from '../../src/gateway/upstream-routes.js';
import { writeConfigFile } from '../support/config-file.js';

const SECURED = [{ bearer: ['things:read'] }];

async function documentFile(paths: Record<string, unknown>): Promise<string> {
  return writeConfigFile({
    openapi: '3.1.0',
    info: { title: 'fixture', version: '1' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  });
}

function policy(overrides: Partial<OperationPolicy> = {}): OperationPolicy {
  return { scopes: [], roles: [], public: false, bindings: [], ...overrides };
}

async function upstream(paths: Record<string, unknown>, overrides: Partial<UpstreamConfig> = {}): Promise<UpstreamConfig> {
  return { name: 'things', url: 'http://127.0.0.1:1', mountPath: '/things', openapi: await documentFile(paths), routes: [], operations: {}, identityAssertion: true, dropRequestHeaders: [], ...overrides };
}

describe('upstream routes', () => {
  it('refuses an operation without security and says how to fix it', async () => {
    const config = await upstream({ '/status': { get: { responses: {} } } });
    await expect(upstreamRoutes(config)).rejects.toThrow(
      "upstream 'things': GET /status declares no security requirement, and every operation must require a credential. " +
        "Declare one in the OpenAPI document, or serve it without credentials with public: true under operations['GET /status'] of this upstream in gateway/upstreams.",
    );
  });

  it('serves an operation marked public', async () => {
    const config = await upstream({ '/status': { get: { operationId: 'status', responses: {} } } }, { operations: { status: policy({ public: true }) } });
    const [route] = await upstreamRoutes(config);
    expect(route?.public).toBe(true);
    expect(route?.credentials).toEqual([]);
  });

  it('refuses public on a secured operation', async () => {
    const config = await upstream({ '/things': { get: { security: SECURED, responses: {} } } }, { operations: { 'GET /things': policy({ public: true }) } });
    await expect(upstreamRoutes(config)).rejects.toThrow(/is configured public but declares a security requirement/);
  });

  it('refuses public on an operation with roles', async () => {
    const config = await upstream(
      { '/admin/report': { get: { 'x-portcullis-roles': ['admin'], responses: {} } } },
      { operations: { 'GET /admin/report': policy({ public: true }) } },
    );
    await expect(upstreamRoutes(config)).rejects.toThrow(
      "upstream 'things': GET /admin/report is configured public but requires the roles admin with x-portcullis-roles; " +
        'declare a security requirement in the OpenAPI document instead of public: true, or remove x-portcullis-roles',
    );
  });

  it('adds configured scopes and roles to the document', async () => {
    const config = await upstream(
      { '/things': { get: { security: SECURED, 'x-portcullis-roles': ['reader'], responses: {} } } },
      { operations: { 'GET /things': policy({ scopes: ['things:audit'], roles: ['auditor'] }) } },
    );
    const [route] = await upstreamRoutes(config);
    expect(route?.scopes).toEqual(['things:read', 'things:audit']);
    expect(route?.roles).toEqual(['reader', 'auditor']);
  });

  it('refuses an unknown operation key', async () => {
    const config = await upstream({ '/things': { get: { security: SECURED, responses: {} } } }, { operations: { 'GET /other': policy() } });
    await expect(upstreamRoutes(config)).rejects.toThrow("upstream 'things': operations names 'GET /other', which the upstream does not declare");
  });

  it('refuses two keys for one operation', async () => {
    const config = await upstream(
      { '/things': { get: { operationId: 'listThings', security: SECURED, responses: {} } } },
      { operations: { listThings: policy(), 'GET /things': policy() } },
    );
    await expect(upstreamRoutes(config)).rejects.toThrow(UpstreamPolicyError);
  });

  it('rejects a dropped header parameter', async () => {
    const parameters = [{ in: 'header', name: 'X_Tenant_Id', required: true, schema: { type: 'string' } }];
    const paths = { '/invoices': { get: { operationId: 'listInvoices', security: SECURED, parameters, responses: {} } } };

    for (const dropped of ['x-tenant-id', 'X-TENANT-*']) {
      const config = await upstream(paths, { dropRequestHeaders: ['x-user-id', dropped] });
      await expect(upstreamRoutes(config)).rejects.toThrow(
        `upstream 'things': GET /invoices declares the header parameter 'X_Tenant_Id', which dropRequestHeaders removes ('${dropped}'), so the upstream would never receive it. ` +
          'Take the header out of dropRequestHeaders of this upstream, or out of the OpenAPI document.',
      );
    }
  });

  it.each([
    ['Cookie', "it carries the caller's credentials for the gateway itself"],
    ['X-Scheme', "proxies in front of a service use it to pass on the client's address, host or scheme, which a caller could forge"],
    ['x-forwarded-prefix', "proxies in front of a service use it to pass on the client's address, host or scheme, which a caller could forge"],
    ['X-Envoy-Retry-On', "an Envoy behind the gateway may take it to change its timeouts, its retries or the request's original path"],
    ['X_Amzn_Oidc_Identity', "proxies in front of a service use it to pass on the caller's identity, client certificate or address, which a caller could forge"],
    ['X.HTTP.Method.Override', 'some frameworks take it to change the method or path after the gateway authorized the request'],
    ['TRANSFER-ENCODING', "it applies only to the caller's connection to the gateway (RFC 9110 section 7.6.1)"],
    ['X-Portcullis-Subject', 'it is one of the identity headers (x-portcullis-*) that the gateway writes itself'],
    ['x_portcullis_roles', 'it is one of the identity headers (x-portcullis-*) that the gateway writes itself'],
  ])('rejects the header parameter %s that the gateway drops', async (name, reason) => {
    const parameters = [{ in: 'header', name, schema: { type: 'string' } }];
    const config = await upstream({ '/invoices': { get: { security: SECURED, parameters, responses: {} } } });

    await expect(upstreamRoutes(config)).rejects.toThrow(
      `upstream 'things': GET /invoices declares the header parameter '${name}', which the gateway drops from every request because ${reason}, ` +
        "so the upstream would never receive the caller's value. Take the header parameter out of the OpenAPI document.",
    );
  });

  it('rejects a cookie parameter', async () => {
    const parameters = [{ in: 'cookie', name: 'sid', required: true, schema: { type: 'string' } }];
    const config = await upstream({ '/invoices': { get: { security: SECURED, parameters, responses: {} } } });

    await expect(upstreamRoutes(config)).rejects.toThrow(
      "upstream 'things': GET /invoices declares the cookie parameter 'sid', but the gateway drops the Cookie header from every request because it carries the caller's credentials for the gateway itself, " +
        "so the upstream would never receive the caller's value. Take the cookie parameter out of the OpenAPI document.",
    );
  });

  it('rejects a header parameter spelled with an underscore', async () => {
    // The gateway drops such a spelling of a validated header, because CGI-style servers read it as X-Tenant-Id.
    const parameters = [{ in: 'header', name: 'X_Tenant_Id', schema: { type: 'string' } }];
    const config = await upstream({ '/invoices': { get: { security: SECURED, parameters, responses: {} } } });

    await expect(upstreamRoutes(config)).rejects.toThrow(
      "upstream 'things': GET /invoices declares the header parameter 'X_Tenant_Id', which the gateway drops from every request because a name with " +
        "punctuation other than '-' is read as 'x-tenant-id' by servers that map '_' to '-', so the upstream would never receive the caller's value. " +
        "Spell the header parameter 'x-tenant-id' in the OpenAPI document.",
    );
  });

  it('keeps header parameters the gateway writes or forwards', async () => {
    const names = ['Host', 'Content-Length', 'Accept-Encoding', 'If-None-Match', 'X-Request-Id', 'X-Forwarded', 'X-Envoy'];
    const parameters = names.map((name) => ({ in: 'header', name, schema: { type: 'string' } }));
    const config = await upstream({ '/invoices': { get: { security: SECURED, parameters, responses: {} } } });

    const [route] = await upstreamRoutes(config);
    expect(route?.headerParameters.size).toBe(names.length);
  });

  it('ignores Accept, Content-Type and Authorization parameters', async () => {
    // OpenAPI 3 requires tools to ignore these three, which media types and security schemes describe.
    const names = ['Accept', 'content-type', 'AUTHORIZATION', 'X-Tenant-Id'];
    const parameters = names.map((name) => ({ in: 'header', name, required: true, schema: { type: 'string', enum: ['never-sent'] } }));
    const config = await upstream({ '/invoices': { get: { security: SECURED, parameters, responses: {} } } });

    const [route] = await upstreamRoutes(config);
    expect([...(route?.headerParameters ?? [])]).toEqual(['x-tenant-id']);
  });

  it('keeps header parameters that are not dropped', async () => {
    const parameters = [{ in: 'header', name: 'X-Tenant-Id', schema: { type: 'string' } }];
    const config = await upstream({ '/invoices': { get: { security: SECURED, parameters, responses: {} } } }, { dropRequestHeaders: ['x-tenant', 'x-tenant-id-*'] });

    const routes = await upstreamRoutes(config);
    expect(routes).toHaveLength(1);
  });

  it('refuses a body binding without a JSON body', async () => {
    const binding = { in: 'body' as const, name: '/account', claim: 'sub', match: 'equals' as const, bypassRoles: [] };
    const form = { content: { 'application/x-www-form-urlencoded': { schema: { type: 'object' } } } };
    const config = await upstream(
      { '/things': { get: { security: SECURED, responses: {} }, post: { security: SECURED, requestBody: form, responses: {} } } },
      { operations: { 'GET /things': policy({ bindings: [binding] }), 'POST /things': policy({ bindings: [binding] }) } },
    );

    await expect(upstreamRoutes(config)).rejects.toThrow(
      "upstream 'things': GET /things binds the body member '/account', but declares no JSON request body; declare one in the OpenAPI document or remove the binding",
    );
  });

  it('refuses a body binding on GET', async () => {
    const binding = { in: 'body' as const, name: '/account', claim: 'sub', match: 'equals' as const, bypassRoles: [] };
    const json = { content: { 'application/json': { schema: { type: 'object', properties: { account: { type: 'string' } } } } } };
    const documented = await upstream({ '/things': { get: { security: SECURED, requestBody: json, responses: {} } } }, { operations: { 'GET /things': policy({ bindings: [binding] }) } });
    await expect(upstreamRoutes(documented)).rejects.toThrow(
      "upstream 'things': GET /things binds the body member '/account', but the gateway reads no body on GET; bind a path or query parameter instead",
    );

    const routed = await upstream({}, {
      openapi: null,
      routes: [{ method: 'GET', path: '/things', scopes: [], roles: [], credentials: ['jwt'] }],
      operations: { 'GET /things': policy({ bindings: [binding] }) },
    });
    await expect(upstreamRoutes(routed)).rejects.toThrow('the gateway reads no body on GET');
  });

  it('refuses a body binding named like an unbound path parameter', async () => {
    const binding = { in: 'body' as const, name: '/account/id', claim: 'sub', match: 'equals' as const, bypassRoles: [] };
    const account = { type: 'object', properties: { id: { type: 'string' } } };
    const json = { content: { 'application/json': { schema: { type: 'object', properties: { account } } } } };
    const paths = { '/things/{account}': { post: { security: SECURED, parameters: [{ in: 'path', name: 'account', required: true, schema: { type: 'string' } }], requestBody: json, responses: {} } } };

    const config = await upstream(paths, { operations: { 'POST /things/{account}': policy({ bindings: [binding] }) } });
    await expect(upstreamRoutes(config)).rejects.toThrow(
      "upstream 'things': POST /things/{account} binds the body member '/account/id', but not the path parameter 'account', which Rails reads in place of the body member; bind the path parameter too",
    );

    const pathBinding = { in: 'path' as const, name: 'account', claim: 'sub', match: 'equals' as const, bypassRoles: [] };
    const both = await upstream(paths, { operations: { 'POST /things/{account}': policy({ bindings: [binding, pathBinding] }) } });
    expect(await upstreamRoutes(both)).toHaveLength(1);
  });

  it('accepts a body binding with a JSON body', async () => {
    const binding = { in: 'body' as const, name: '/account', claim: 'sub', match: 'equals' as const, bypassRoles: [] };
    const json = { content: { 'application/merge-patch+json': { schema: { type: 'object', additionalProperties: true } } } };
    const config = await upstream({ '/things': { patch: { security: SECURED, requestBody: json, responses: {} } } }, { operations: { 'PATCH /things': policy({ bindings: [binding] }) } });

    const [route] = await upstreamRoutes(config);
    expect(route?.bodyBindings).toEqual([binding]);
    expect(route?.bindings).toEqual([]);
  });

  it.each([
    ['an undeclared member of a closed object', '/account', { type: 'object', properties: { amount: { type: 'integer' } } }],
    ['a readOnly member', '/account', { type: 'object', properties: { account: { type: 'string', readOnly: true } } }],
    ['a member below a text value', '/account/id', { type: 'object', properties: { account: { type: 'string' } } }],
    ['a member no oneOf branch declares', '/account', { oneOf: [{ type: 'object', properties: { amount: { type: 'integer' } } }, { type: 'object', properties: { note: { type: 'string' } } }] }],
    ['an element member of text items', '/legs/0/account', { type: 'object', properties: { legs: { type: 'array', items: { type: 'string' } } } }],
  ])('refuses a body binding on %s', async (_case, pointer, schema) => {
    const binding = { in: 'body' as const, name: pointer, claim: 'sub', match: 'equals' as const, bypassRoles: [] };
    const json = { content: { 'application/json': { schema } } };
    const config = await upstream({ '/things': { post: { security: SECURED, requestBody: json, responses: {} } } }, { operations: { 'POST /things': policy({ bindings: [binding] }) } });
    await expect(upstreamRoutes(config)).rejects.toThrow(
      `upstream 'things': POST /things binds the body member '${pointer}', which the request body schema of the OpenAPI document does not allow`,
    );
  });

  it.each([
    ['a declared member', '/source/account', { type: 'object', properties: { source: { type: 'object', properties: { account: { type: 'string' } } } } }],
    ['an open object', '/account', { type: 'object', additionalProperties: { type: 'string' } }],
    ['a matching pattern property', '/account', { type: 'object', patternProperties: { '^acc': { type: 'string' } }, additionalProperties: false }],
    ['a member one allOf branch declares', '/account', { allOf: [{ type: 'object', properties: { account: { type: 'string' } } }, { type: 'object', properties: { amount: { type: 'integer' } } }] }],
    ['a member one anyOf branch declares', '/account', { anyOf: [{ type: 'object', properties: { account: { type: 'string' } } }, { type: 'object', properties: { note: { type: 'string' } } }] }],
    ['an array element', '/legs/1/account', { type: 'object', properties: { legs: { type: 'array', items: { type: 'object', properties: { account: { type: 'string' } } } } } }],
    ['a member under unevaluatedProperties beside allOf', '/account', { allOf: [{ properties: { account: { type: 'string' } }, additionalProperties: true }], unevaluatedProperties: false }],
    ['a schema without object keywords', '/account', {}],
  ])('accepts a body binding on %s', async (_case, pointer, schema) => {
    const binding = { in: 'body' as const, name: pointer, claim: 'sub', match: 'equals' as const, bypassRoles: [] };
    const json = { content: { 'application/json': { schema } } };
    const config = await upstream({ '/things': { post: { security: SECURED, requestBody: json, responses: {} } } }, { operations: { 'POST /things': policy({ bindings: [binding] }) } });
    expect((await upstreamRoutes(config))[0]?.bodyBindings).toEqual([binding]);
  });

  it('reports unchecked formats as warnings', async () => {
    const schema = { type: 'object', properties: { id: { type: 'string', format: 'snowflake' }, at: { type: 'string', format: 'date-time' } } };
    const json = { content: { 'application/json': { schema } } };
    const config = await upstream({ '/things': { post: { security: SECURED, requestBody: json, responses: { '200': { description: 'ok', ...json } } } } });
    const printed = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const warnings: string[] = [];

    try {
      await upstreamRoutes(config, { onWarning: (warning) => warnings.push(warning) });
      expect(printed).not.toHaveBeenCalled();
    } finally {
      printed.mockRestore();
    }
    expect(warnings).toEqual(['unknown format "snowflake" ignored in schema at path "#/properties/id"']);
  });

  it('refuses a binding to a missing path parameter', async () => {
    const binding = { in: 'path' as const, name: 'userId', claim: 'sub', match: 'equals' as const, bypassRoles: [] };
    const config = await upstream({ '/things': { get: { security: SECURED, responses: {} } } }, { operations: { 'GET /things': policy({ bindings: [binding] }) } });
    await expect(upstreamRoutes(config)).rejects.toThrow("upstream 'things': GET /things has no path parameter 'userId' to bind");
  });

  it('rejects binding an undeclared query parameter', async () => {
    const binding = { in: 'query' as const, name: 'tenant', claim: 'tenants', match: 'oneOf' as const, bypassRoles: [] };
    const config = await upstream({ '/things': { get: { security: SECURED, responses: {} } } }, { operations: { 'GET /things': policy({ bindings: [binding] }) } });
    await expect(upstreamRoutes(config)).rejects.toThrow(
      "upstream 'things': GET /things binds the query parameter 'tenant', which the OpenAPI document does not declare, so every request would be rejected",
    );

    const parameters = [{ in: 'query', name: 'tenant', required: true, schema: { type: 'string' } }];
    const declared = await upstream({ '/things': { get: { security: SECURED, parameters, responses: {} } } }, { operations: { 'GET /things': policy({ bindings: [binding] }) } });
    expect((await upstreamRoutes(declared))[0]?.bindings).toEqual([binding]);
  });

  it('accepts refused bindings without validation', async () => {
    const query = { in: 'query' as const, name: 'tenant', claim: 'tenants', match: 'oneOf' as const, bypassRoles: [] };
    const body = { in: 'body' as const, name: '/account', claim: 'sub', match: 'equals' as const, bypassRoles: [] };
    const json = { content: { 'application/json': { schema: { type: 'object', properties: { amount: { type: 'integer' } } } } } };
    const config = await upstream(
      { '/things': { post: { security: SECURED, requestBody: json, responses: {} } } },
      { operations: { 'POST /things': policy({ bindings: [query, body] }) } },
    );

    const [route] = await upstreamRoutes(config, { validateRequests: false });
    expect(route?.bindings).toEqual([query]);
    expect(route?.bodyBindings).toEqual([body]);
  });

  it('requires a date for a deprecated operation', async () => {
    const config = await upstream({ '/old': { get: { deprecated: true, security: SECURED, responses: {} } } });
    await expect(upstreamRoutes(config)).rejects.toThrow(/GET \/old is deprecated in the OpenAPI document, but the Deprecation header \(RFC 9745\) needs a date/);
  });

  it('inherits the upstream lifecycle and lets the operation override it', async () => {
    const config = await upstream(
      {
        '/old': { get: { deprecated: true, security: SECURED, responses: {} } },
        '/older': { get: { security: SECURED, responses: {} } },
      },
      { deprecation: '2026-01-01T00:00:00Z', sunset: '2030-01-01T00:00:00Z', operations: { 'GET /older': policy({ sunset: '2028-01-01T00:00:00Z' }) } },
    );
    const [old, older] = await upstreamRoutes(config);
    expect(old?.lifecycle.sunset?.toISOString()).toBe('2030-01-01T00:00:00.000Z');
    expect(older?.lifecycle.sunset?.toISOString()).toBe('2028-01-01T00:00:00.000Z');
    expect(older?.lifecycle.deprecation?.toISOString()).toBe('2026-01-01T00:00:00.000Z');
  });

  it('matches route-based operations by METHOD and path', async () => {
    const config: UpstreamConfig = {
      name: 'routes',
      url: 'http://127.0.0.1:1',
      mountPath: '/r',
      openapi: null,
      dropRequestHeaders: [],
      identityAssertion: true,
      routes: [{ method: 'GET', path: '/users/:userId', scopes: [], roles: [], credentials: ['jwt'] }],
      operations: { 'GET /users/{userId}': policy({ roles: ['member'] }) },
    };
    const [route] = await upstreamRoutes(config);
    expect(route?.roles).toEqual(['member']);
  });

  it('ignores inherited names as operationIds', async () => {
    const config = await upstream({ '/things': { get: { operationId: 'toString', security: SECURED, responses: {} } } });
    const [route] = await upstreamRoutes(config);
    expect(route?.public).toBe(false);
    expect(route?.scopes).toEqual(['things:read']);
  });

  it('rejects configured routes differing in parameter names', async () => {
    const route = { scopes: [], roles: [], credentials: ['jwt' as const] };
    const config = await upstream({}, {
      openapi: null,
      routes: [
        { ...route, method: 'GET', path: '/things/:id' },
        { ...route, method: 'DELETE', path: '/things/:name' },
      ],
    });
    await expect(upstreamRoutes(config)).rejects.toThrow(UpstreamPolicyError);
    await expect(upstreamRoutes(config)).rejects.toThrow("upstream 'things': paths '/things/{id}' and '/things/{name}' differ only in parameter names");
  });

  it('keys an operation with a literal colon by its template', async () => {
    const config = await upstream(
      { '/things:batchGet': { get: { security: SECURED, responses: {} } } },
      { operations: { 'GET /things:batchGet': policy({ scopes: ['things:audit'] }) } },
    );
    const [route] = await upstreamRoutes(config);
    expect(route?.scopes).toEqual(['things:read', 'things:audit']);
    expect(route?.path).toBe('/things::batchGet');
  });
});

describe('shared service operations', () => {
  it('maps operations under each base path', async () => {
    const routesOf = async (paths: Record<string, unknown>) => upstreamRoutes(await upstream(paths));
    const get = { security: SECURED, responses: {} };
    const routes = [
      await routesOf({ '/orders/{id}': { parameters: [{ name: 'id', in: 'path', required: true }], get } }),
      await routesOf({ '/orders/export': { get }, '/orders/{id}:cancel': { parameters: [{ name: 'id', in: 'path', required: true }], post: get } }),
      await routesOf({ '/stats': { get } }),
    ];
    const urls = ['http://svc.test:8080', 'http://svc.test:8080/staff/', 'http://other.test:8080'];

    const shared = sharedServiceOperations(urls, routes);

    expect(shared[0]?.map((operation) => `${operation.method} ${operation.route.template}`)).toEqual(['GET /staff/orders/export', 'POST /staff/orders/{id}:cancel']);
    expect(shared[1]).toEqual([]);
    expect(shared[2]).toEqual([]);
  });
});

