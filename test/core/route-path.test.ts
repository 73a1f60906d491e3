import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';

import { compileOperations } from '../../src/core/openapi/operations.js';
import { buildUpstreamPath, checkDistinctPaths, foreignPathCheck, parseRoutePath, siblingPathCheck, type RoutePath } from '../../src/core/openapi/route-path.js';

interface Match {
  template: string;
  params: Record<string, string>;
  upstream: string | null;
}

let app: FastifyInstance | undefined;

afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** Registers each template on a router configured like the gateway's, and returns what a GET of `url` matches. */
async function routerFor(templates: string[]): Promise<(url: string) => Promise<Match | undefined>> {
  app = Fastify({ routerOptions: { ignoreTrailingSlash: false, caseSensitive: true } });
  for (const template of templates) {
    const route: RoutePath = parseRoutePath(template);
    app.get(route.router, async (request) => {
      const params = request.params as Record<string, string>;
      return { template, params, upstream: buildUpstreamPath(route, params) ?? null };
    });
  }
  await app.ready();

  return async (url) => {
    const response = await (app as FastifyInstance).inject({ url });
    return response.statusCode === 404 ? undefined : (response.json() as Match);
  };
}

describe('route paths', () => {
  it('matches a custom method after a parameter', async () => {
    const find = await routerFor(['/orders/{id}', '/orders/{id}:cancel']);

    expect(await find('/orders/7:cancel')).toEqual({ template: '/orders/{id}:cancel', params: { id: '7' }, upstream: '/orders/7:cancel' });
    expect(await find('/orders/7')).toEqual({ template: '/orders/{id}', params: { id: '7' }, upstream: '/orders/7' });
    expect(await find('/orders/7:cancelled')).toMatchObject({ template: '/orders/{id}' });
    expect(await find('/orders/:cancel')).toMatchObject({ template: '/orders/{id}' });
  });

  it('keeps a literal colon literal', async () => {
    const find = await routerFor(['/v1/orders:batchGet']);

    expect(await find('/v1/orders:batchGet')).toEqual({ template: '/v1/orders:batchGet', params: {}, upstream: '/v1/orders:batchGet' });
    expect(await find('/v1/ordersX')).toBeUndefined();
    expect(await find('/v1/orders')).toBeUndefined();
  });

  it('matches a parameter that shares its segment', async () => {
    const find = await routerFor(['/files/{name}.json', '/reports/{year}-{month}', '/items/{id}_v1', '/marks/{id}(x)']);

    expect(await find('/files/a.b.json')).toMatchObject({ params: { name: 'a.b' }, upstream: '/files/a.b.json' });
    expect(await find('/files/.json')).toBeUndefined();
    expect(await find('/reports/2024-05')).toMatchObject({ params: { year: '2024', month: '05' }, upstream: '/reports/2024-05' });
    expect(await find('/items/7_v1')).toMatchObject({ params: { id: '7' }, upstream: '/items/7_v1' });
    expect(await find('/items/7')).toBeUndefined();
    expect(await find('/marks/7(x)')).toMatchObject({ params: { id: '7' }, upstream: '/marks/7(x)' });
  });

  it('decodes parameters and re-encodes them upstream', async () => {
    const find = await routerFor(['/orders/{id}:cancel', '/semi/{id};v=1']);

    expect(await find('/orders/a%20b:cancel')).toMatchObject({ params: { id: 'a b' }, upstream: '/orders/a%20b:cancel' });
    expect(await find('/orders/a%3Ab:cancel')).toMatchObject({ params: { id: 'a:b' }, upstream: '/orders/a%3Ab:cancel' });
    expect(await find('/orders/a%2Fb:cancel')).toMatchObject({ params: { id: 'a/b' }, upstream: null });
    expect(await find('/semi/7;v=1')).toMatchObject({ params: { id: '7' }, upstream: '/semi/7;v=1' });
  });

  it('matches percent-encoded literals by their decoded text', async () => {
    const find = await routerFor(['/files/a%20b', '/caf%C3%A9']);

    expect(await find('/files/a%20b')).toMatchObject({ template: '/files/a%20b', upstream: '/files/a%20b' });
    expect(await find('/files/a%2520b')).toBeUndefined();
    expect(await find('/caf%c3%a9')).toMatchObject({ template: '/caf%C3%A9' });
  });

  it('keeps trailing slashes significant', async () => {
    const find = await routerFor(['/orders', '/orders/{id}/']);

    expect(await find('/orders')).toMatchObject({ template: '/orders' });
    expect(await find('/orders/')).toBeUndefined();
    expect(await find('/orders/7/')).toMatchObject({ params: { id: '7' }, upstream: '/orders/7/' });
    expect(await find('/orders/7')).toBeUndefined();
  });

  it.each([
    ['/files/*', /'\*'/],
    ['/files/%2A', /'\*'/],
    ['/files/a%2Fb', /reserved character %2F/],
    ['/files/100%25', /reserved character %25/],
    ['/files/a%zz', /not allowed in a URL path/],
    ['/files/a b', /not allowed in a URL path/],
    ['/files/%C3', /not valid UTF-8/],
    ['/users/{user-id}', /invalid parameter name '\{user-id\}'/],
    ['/users/{id', /unmatched brace/],
    ['/dates/{year}{month}', /no text between them/],
    ['/a/{id}/b/{id}', /'id' twice/],
    ['/a/../b', /'\.\.' segment/],
    ['orders', /must start with '\/'/],
  ])('rejects the template %s', (template, message) => {
    expect(() => parseRoutePath(template)).toThrow(message);
    expect(() => parseRoutePath(template)).toThrow(template);
  });

  it('rejects templates differing in parameter names', () => {
    const paths = ['/a/{id}', '/a/{name}'].map(parseRoutePath);
    expect(() => checkDistinctPaths(paths)).toThrow("paths '/a/{id}' and '/a/{name}' differ only in parameter names");
  });
});

describe('route paths of an OpenAPI document', () => {
  const idParameter = { name: 'id', in: 'path', required: true, schema: { type: 'integer' } };

  function documentWith(paths: Record<string, unknown>): Record<string, unknown> {
    return { openapi: '3.0.3', info: { title: 't', version: '1' }, paths };
  }

  it('rejects paths differing in parameter names', () => {
    const document = documentWith({
      '/a/{id}': { get: { parameters: [idParameter], responses: { 200: { description: 'ok' } } } },
      '/a/{name}': { post: { parameters: [{ ...idParameter, name: 'name' }], responses: { 200: { description: 'ok' } } } },
    });
    expect(() => compileOperations(document)).toThrow("paths '/a/{id}' and '/a/{name}' differ only in parameter names");
  });

  it('rejects a path the router cannot match', () => {
    const document = documentWith({ '/files/*': { get: { responses: { 200: { description: 'ok' } } } } });
    expect(() => compileOperations(document)).toThrow("path '/files/*'");
  });

  it('rejects undeclared and absent path parameters', () => {
    const undeclared = documentWith({ '/a/{id}': { get: { responses: { 200: { description: 'ok' } } } } });
    expect(() => compileOperations(undeclared)).toThrow("GET /a/{id}: the path parameter 'id' is not declared");

    const absent = documentWith({ '/a': { get: { parameters: [idParameter], responses: { 200: { description: 'ok' } } } } });
    expect(() => compileOperations(absent)).toThrow("GET /a: the path parameter 'id' does not appear in the path");
  });

  it('validates a parameter that shares its segment', async () => {
    const [operation] = compileOperations(documentWith({ '/orders/{id}:cancel': { post: { parameters: [idParameter], responses: { 200: { description: 'ok' } } } } }));
    const find = await routerFor([operation?.route.template as string]);
    const parts = { query: {}, headers: {}, contentType: undefined, body: undefined };

    const valid = await find('/orders/7:cancel');
    expect(operation?.validate({ ...parts, params: valid?.params ?? {} })).toBeUndefined();

    const invalid = await find('/orders/x:cancel');
    expect(operation?.validate({ ...parts, params: invalid?.params ?? {} })?.errors).toEqual([{ pointer: '/path/id', detail: 'must be integer' }]);
  });
});

describe('siblingPathCheck', () => {
  const templates = ['/reports/{id}', '/reports/export', '/reports/{id}/items', '/v/{a}-{b}', '/v/{id}', '/files/{name}.json', '/files/{name}'];
  const routes = new Map(templates.map((template) => [template, parseRoutePath(template)]));
  const route = (template: string) => routes.get(template) as RoutePath;
  const checkOf = (template: string) => siblingPathCheck(route(template), [...routes.values()]);

  it.each([['EXPORT'], ['Export'], ['eXport'], ['export.json'], ['EXPORT.csv']])('flags %s as the static sibling', (id) => {
    expect(checkOf('/reports/{id}')?.({ id })).toBe(true);
  });

  it.each([['123'], ['exports'], ['export-2'], ['r.json'], ['xport']])('accepts the id %s', (id) => {
    expect(checkOf('/reports/{id}')?.({ id })).toBe(false);
  });

  it('folds Unicode case', () => {
    const check = siblingPathCheck(parseRoutePath('/k/{id}'), [parseRoutePath('/k/{id}'), parseRoutePath('/k/kpis')]);
    expect(check?.({ id: '\u212Apis' })).toBe(true);
    expect(check?.({ id: 'kp\u0131s' })).toBe(true);
    expect(check?.({ id: 'kpi\u017f' })).toBe(true);
  });

  it('ignores exact overlaps', () => {
    expect(checkOf('/v/{a}-{b}')?.({ a: 'x', b: 'y' }) ?? false).toBe(false);
    expect(checkOf('/v/{id}')?.({ id: 'x-y' }) ?? false).toBe(false);
  });

  it('skips templates without a possible sibling', () => {
    expect(checkOf('/reports/export')).toBeUndefined();
    expect(checkOf('/reports/{id}/items')).toBeUndefined();
  });

  it('flags a suffix that spells a sibling template', () => {
    expect(checkOf('/files/{name}')?.({ name: 'a.JSON' })).toBe(true);
    expect(checkOf('/files/{name}')?.({ name: 'a.xml' })).toBe(false);
  });
});

describe('foreignPathCheck', () => {
  const foreign = ['/reports/export', '/{section}/summary', '/reports/{id}', '/files/{name}.json'].map(parseRoutePath);
  const checkOf = (template: string) => foreignPathCheck(parseRoutePath(template), foreign);

  it.each([['export'], ['EXPORT'], ['export.json']])('flags the foreign literal %s', (id) => {
    expect(checkOf('/reports/{id}')?.({ id })).toBe(true);
  });

  it.each([['r-7'], ['exports'], ['export-2']])('accepts the id %s', (id) => {
    expect(checkOf('/reports/{id}')?.({ id })).toBe(false);
  });

  it('ignores foreign parameters in place of literals', () => {
    expect(checkOf('/reports/summary')).toBeUndefined();
    expect(checkOf('/files/{name}')?.({ name: 'a.json' }) ?? false).toBe(false);
  });
});

