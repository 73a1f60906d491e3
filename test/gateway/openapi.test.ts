import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { OpenApiError, compileOperations } from '../../src/core/openapi/operations.js';
import { createUser } from '../support/accounts.js';
import { writeConfigFile } from '../support/config-file.js';
import { callApi, obtainTokens } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

const DOCUMENT = fileURLToPath(new URL('../../openapi/demo-orders.yaml', import.meta.url));
const JSON_HEADERS = { 'content-type': 'application/json' };

interface Problem {
  code: string;
  detail: string;
  errors?: Array<{ pointer: string; detail: string }>;
}

describe('gateway enforcing an OpenAPI document', () => {
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    // Without the order-creation quota, every order a test places reaches the upstream.
    const config = await writeConfigFile({ gateway: { openapi: DOCUMENT }, rateLimit: { flows: [] } });
    server = await startTestServer({ config });
    token = (await obtainTokens(server, await createUser(server, 'spec_user'))).tokens.access_token;
  });

  afterAll(async () => {
    await server.close();
  });

  async function post(body: string, headers: Record<string, string> = JSON_HEADERS): Promise<{ status: number; problem: Problem }> {
    const response = await callApi(server, '/orders', token, { method: 'POST', headers, body });
    return { status: response.status, problem: (await response.json()) as Problem };
  }

  it('forwards a valid order', async () => {
    const response = await callApi(server, '/orders', token, { method: 'POST', headers: JSON_HEADERS, body: '{"item":"lamp","quantity":2}' });
    expect(response.status).toBe(201);
  });

  it.each([
    ['id', '"forged"'],
    ['owner', '"someone-else"'],
    ['status', '"placed"'],
  ])('rejects the read-only property %s', async (name, value) => {
    const { status, problem } = await post(`{"item":"lamp","quantity":1,"${name}":${value}}`);
    expect(status).toBe(400);
    expect(problem.code).toBe('validation_failed');
    expect(problem.errors).toContainEqual({ pointer: `/body/${name}`, detail: 'property is read-only or not allowed in requests' });
  });

  it('rejects an undeclared property', async () => {
    const { status, problem } = await post('{"item":"lamp","quantity":1,"discount":100}');
    expect(status).toBe(400);
    expect(problem.errors).toContainEqual({ pointer: '/body/discount', detail: "unknown property 'discount' is not allowed" });
  });

  it('reports a bounded number of field errors', async () => {
    const unknown = Array.from({ length: 5000 }, (_, index) => `"extra${index}":1`).join(',');
    const response = await callApi(server, '/orders', token, { method: 'POST', headers: JSON_HEADERS, body: `{"item":"lamp","quantity":1,${unknown}}` });
    const text = await response.text();
    const problem = JSON.parse(text) as Problem;

    expect(response.status).toBe(400);
    expect(problem.errors).toHaveLength(20);
    expect(problem.errors?.[0]).toEqual({ pointer: '/body/extra0', detail: "unknown property 'extra0' is not allowed" });
    expect(problem.detail).toContain('and 4980 more');
    expect(text.length).toBeLessThan(5000);
  });

  it('shortens long names in the detail', async () => {
    const name = 'n'.repeat(100_000);
    const response = await callApi(server, '/orders', token, { method: 'POST', headers: JSON_HEADERS, body: `{"item":"lamp","quantity":1,"${name}":1}` });
    const text = await response.text();
    const problem = JSON.parse(text) as Problem;

    expect(response.status).toBe(400);
    expect(problem.errors?.[0]?.pointer).toBe(`/body/${name}`);
    expect(problem.errors?.[0]?.detail.length).toBeLessThan(200);
    expect(problem.detail.length).toBeLessThan(300);
    expect(text.length).toBeLessThan(name.length + 1000);
    expect(server.logs.every((line) => line.length < 10_000)).toBe(true);
  });

  it('rejects wrong types without coercion', async () => {
    const { status, problem } = await post('{"item":"lamp","quantity":"2"}');
    expect(status).toBe(400);
    expect(problem.errors?.map((error) => error.pointer)).toContain('/body/quantity');
  });

  it('rejects bad JSON and prototype keys', async () => {
    expect((await post('{"item":')).problem.code).toBe('invalid_json');
    const poisoned = await post('{"item":"lamp","quantity":1,"__proto__":{"admin":true}}');
    expect(poisoned.status).toBe(400);
    expect(poisoned.problem.detail).toContain('forbidden key');
  });

  it('rejects duplicate keys in a JSON body', async () => {
    // The gateway's parser keeps the last value and many upstream parsers keep the first.
    for (const body of ['{"item":"lamp","quantity":5000,"quantity":1}', '{"item":"lamp","quantity":1,"quantity":5000}', '{"item":"lamp","\\u0071uantity":5000,"quantity":1}']) {
      const { status, problem } = await post(body);

      expect(status, body).toBe(400);
      expect(problem.code, body).toBe('invalid_json');
      expect(problem.detail, body).toBe("The request body is not valid JSON: the member name 'quantity' appears twice in one object.");
    }
  });

  it('rejects a JSON body that is not UTF-8', async () => {
    const body = Buffer.concat([Buffer.from('{"item":"lamp'), Buffer.from([0xff, 0xfe]), Buffer.from('","quantity":1}')]);
    const response = await callApi(server, '/orders', token, { method: 'POST', headers: JSON_HEADERS, body });
    const problem = (await response.json()) as Problem;

    expect(response.status).toBe(400);
    expect(problem.code).toBe('invalid_json');
    expect(problem.detail).toBe('The request body is not valid JSON: it is not valid UTF-8.');
  });

  it('rejects unpaired surrogate escapes in JSON', async () => {
    // RFC 8259 section 8.2: parsers differ on such strings. Go's
    // encoding/json reads U+FFFD, and Rust's serde_json rejects the body.
    const bodies = [
      '{"item":"lamp\\ud800","quantity":1}',
      '{"item":"lamp\\udc00\\ud800","quantity":1}',
      '{"item":"lamp","quantity":1,"\\udbff":1}',
      '{"item":"lamp","quantity":1,"tags":[{"x":"\\uDFFF"}]}',
      `{"item":"lamp","quantity":1,"tags":[${'0,'.repeat(300_000)}"\\ud800"]}`,
    ];
    for (const body of bodies) {
      const { status, problem } = await post(body);

      expect(status, body.slice(0, 60)).toBe(400);
      expect(problem.code, body.slice(0, 60)).toBe('invalid_json');
      expect(problem.detail, body.slice(0, 60)).toBe('The request body is not valid JSON: a string contains an unpaired surrogate escape (\\uD800 to \\uDFFF), which encodes no Unicode character.');
    }

    const paired = await callApi(server, '/orders', token, { method: 'POST', headers: JSON_HEADERS, body: '{"item":"lamp \\ud83d\\ude00 \\\\ud800","quantity":1}' });
    expect(paired.status).toBe(201);
  });

  it('rejects a JSON charset other than UTF-8', async () => {
    for (const contentType of ['application/json; charset=utf-16', 'application/json;charset=ISO-8859-1', 'application/json; charset="ibm037"']) {
      const { status, problem } = await post('{"item":"lamp","quantity":1}', { 'content-type': contentType });

      expect(status, contentType).toBe(415);
      expect(problem.code, contentType).toBe('unsupported_media_type');
      expect(problem.detail, contentType).toContain('charset');
    }
  });

  it('rejects a second charset other than UTF-8', async () => {
    // A parser that keeps the last parameter would decode the body as UTF-16.
    const { status, problem } = await post('{"item":"lamp","quantity":1}', { 'content-type': 'application/json; charset=utf-8; charset=utf-16' });

    expect(status).toBe(415);
    expect(problem.detail).toBe("The charset of a JSON body must be utf-8, not 'utf-16'.");
  });

  it('accepts a UTF-8 charset in any spelling', async () => {
    for (const contentType of ['application/json; charset=utf-8', 'application/json;charset=UTF-8', 'application/json; charset="utf-8"', 'application/json; charset=utf8']) {
      const response = await callApi(server, '/orders', token, { method: 'POST', headers: { 'content-type': contentType }, body: '{"item":"lamp","quantity":1}' });

      expect(response.status, contentType).toBe(201);
    }
  });

  it('enforces the declared media type', async () => {
    const { status, problem } = await post('item=lamp', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(status).toBe(415);
    expect(problem.detail).toBe('The Content-Type must be one of: application/json.');
  });

  it('requires the declared body', async () => {
    const response = await callApi(server, '/orders', token, { method: 'POST', headers: JSON_HEADERS });
    expect(response.status).toBe(400);
  });

  it('validates query parameters', async () => {
    for (const query of ['limit=0', 'limit=101', 'limit=ten', 'unknown=1']) {
      const response = await callApi(server, `/orders?${query}`, token);
      expect(response.status, query).toBe(400);
      expect(((await response.json()) as Problem).errors?.[0]?.pointer).toMatch(/^\/query\//);
    }
    expect((await callApi(server, '/orders?limit=5', token)).status).toBe(200);
  });

  it('rejects numbers in loose text forms', async () => {
    for (const limit of ['1.', '0x10', '1e1', '%2010', '%2B5', '5%20']) {
      const response = await callApi(server, `/orders?limit=${limit}`, token);
      expect(response.status, limit).toBe(400);
      expect(((await response.json()) as Problem).errors?.[0], limit).toEqual({ pointer: '/query/limit', detail: 'must be integer' });
    }
  });

  it('rejects integers with leading zeros', async () => {
    for (const limit of ['010', '-05', '00']) {
      const response = await callApi(server, `/orders?limit=${limit}`, token);
      expect(response.status, limit).toBe(400);
      expect(((await response.json()) as Problem).errors?.[0], limit).toEqual({ pointer: '/query/limit', detail: 'must be integer without leading zeros' });
    }
  });

  it('validates path parameters', async () => {
    const response = await callApi(server, `/orders/${'x'.repeat(65)}`, token);
    expect(response.status).toBe(400);
  });

  it('takes roles and scopes from the document', async () => {
    const response = await callApi(server, '/admin/orders', token);
    expect(response.status).toBe(403);
  });

  it('checks scopes before the body', async () => {
    const reader = await createUser(server, 'spec_reader');
    const readOnly = (await obtainTokens(server, { ...reader, scope: 'openid orders:read' })).tokens.access_token;
    const response = await callApi(server, '/orders', readOnly, { method: 'POST', headers: JSON_HEADERS, body: '{"owner":"x"}' });
    expect(response.status).toBe(403);
  });

  it('routes only documented operations', async () => {
    expect((await callApi(server, '/orders', token, { method: 'PUT', headers: JSON_HEADERS, body: '{}' })).status).toBe(404);
    expect((await callApi(server, '/users', token)).status).toBe(404);
  });
});

describe('OpenAPI compilation', () => {
  const base = {
    openapi: '3.0.3',
    info: { title: 't', version: '1' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
  };

  it('leaves an operation without security without credentials', () => {
    const document = { ...base, paths: { '/open': { get: { responses: {} } } } };
    expect(compileOperations(document)[0]?.credentials).toEqual([]);
  });

  it('treats an empty security requirement as none', () => {
    const document = { ...base, paths: { '/open': { get: { security: [{}], responses: {} } } } };
    expect(compileOperations(document)[0]?.credentials).toEqual([]);
  });

  it('reads the deprecated flag', () => {
    const document = { ...base, paths: { '/old': { get: { deprecated: true, security: [{ bearer: [] }], responses: {} } } } };
    expect(compileOperations(document)[0]?.deprecated).toBe(true);
  });

  it('refuses unsupported versions', () => {
    expect(() => compileOperations({ ...base, openapi: '2.0', paths: {} })).toThrow(/versions 3.0 and 3.1/);
  });

  it('maps schemes to credential kinds', () => {
    const document = {
      ...base,
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, key: { type: 'apiKey', in: 'header', name: 'X-API-Key' } } },
      paths: { '/things/{id}': { get: { security: [{ bearer: [] }, { key: [] }], parameters: [{ name: 'id', in: 'path', required: true }], responses: {} } } },
    };
    const [operation] = compileOperations(document);
    expect(operation?.path).toBe('/things/:id');
    expect(operation?.credentials.sort()).toEqual(['api_key', 'jwt']);
  });

  it('rejects a token and key required together', () => {
    const document = {
      ...base,
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, key: { type: 'apiKey', in: 'header', name: 'X-API-Key' } } },
      paths: { '/things': { get: { security: [{ bearer: ['things:read'], key: [] }], responses: {} } } },
    };
    expect(() => compileOperations(document)).toThrow(/GET \/things: a security requirement names 'bearer' and 'key' together/);
  });

  it.each([
    ['scopes as text', { security: [{ bearer: 'things:write' }] }, /GET \/things: the scopes of security scheme 'bearer' must be a list of strings/],
    ['roles as text', { security: [{ bearer: [] }], 'x-portcullis-roles': 'admin' }, /GET \/things: x-portcullis-roles must be a list of strings/],
    ['a role that is no string', { security: [{ bearer: [] }], 'x-portcullis-roles': [['admin']] }, /x-portcullis-roles must be a list of strings/],
  ])('rejects %s', (_case, operation, message) => {
    const document = { ...base, paths: { '/things': { get: { ...operation, responses: {} } } } };
    expect(() => compileOperations(document)).toThrow(message);
  });

  it.each([
    ['a null requirement', { security: [null] }, /GET \/things: security must be a list of security requirement objects/],
    ['a requirement as text', { security: ['bearer'] }, /GET \/things: security must be a list of security requirement objects/],
    ['security as one object', { security: { bearer: [] } }, /GET \/things: security must be a list of security requirement objects/],
    ['a null parameter', { security: [{ bearer: [] }], parameters: [null] }, /GET \/things: parameter 0 must be an object with a name and an in/],
    ['a parameter without a name', { security: [{ bearer: [] }], parameters: [{ in: 'query' }] }, /GET \/things: parameter 0 must be an object with a name/],
  ])('rejects %s by name', (_case, operation, message) => {
    const document = { ...base, paths: { '/things': { get: { ...operation, responses: {} } } } };
    expect(() => compileOperations(document)).toThrow(message);
  });

  it.each([
    ['a parameter', { parameters: [{ in: 'query', name: 'q', schema: { type: 'text' } }] }, /GET \/things: parameters: the schema is invalid: data\/properties\/q\/type/],
    ['a request body', { requestBody: { content: { 'application/json': { schema: { type: 'text' } } } } }, /GET \/things: request body application\/json: the schema is invalid: data\/type/],
    ['a form body', { requestBody: { content: { 'application/x-www-form-urlencoded': { schema: { type: 'object', properties: { a: { pattern: '(' } } } } } } }, /GET \/things: request body application\/x-www-form-urlencoded: the schema is invalid: Invalid regular expression/],
    ['a response', { responses: { '200': { description: 'ok', content: { 'application/json': { schema: { type: 'object', patternProperties: { '(': {} } } } } } } }, /GET \/things: response 200: the schema is invalid: Invalid regular expression/],
    ['tuple items of a request body', { requestBody: { content: { 'application/json': { schema: { type: 'array', items: [{ type: 'object' }] } } } } }, /GET \/things: request body application\/json: the schema is invalid: \/items is a list of schemas/],
    ['tuple items of a response', { responses: { '200': { description: 'ok', content: { 'application/json': { schema: { type: 'object', properties: { list: { type: 'array', items: [{ type: 'object' }] } } } } } } } }, /GET \/things: response 200: the schema is invalid: \/properties\/list\/items is a list of schemas/],
  ])('names the operation of an invalid schema in %s', (_case, operation, message) => {
    const document = { ...base, paths: { '/things': { get: { security: [{ bearer: [] }], responses: {}, ...operation } } } };
    expect(() => compileOperations(document)).toThrow(message);
    expect(() => compileOperations(document)).toThrow(OpenApiError);
  });

  it('rejects roles on a path item', () => {
    const document = { ...base, paths: { '/things': { 'x-portcullis-roles': ['admin'], get: { security: [{ bearer: [] }], responses: {} } } } };
    expect(() => compileOperations(document)).toThrow(/\/things: x-portcullis-roles applies to operations only/);
  });

  it.each([
    ['the top of the document', { 'x-portcullis-roles': ['admin'] }, {}],
    ['paths', {}, { 'x-portcullis-roles': ['admin'] }],
  ])('rejects roles at %s', (where, top, paths) => {
    const document = { ...base, ...top, security: [{ bearer: [] }], paths: { ...paths, '/admin/things': { get: { responses: {} } } } };
    expect(() => compileOperations(document)).toThrow(`x-portcullis-roles at ${where} would require no role, because it applies to operations only`);
  });

  it('accepts two token schemes together', () => {
    const document = {
      ...base,
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, oauth: { type: 'oauth2', flows: {} } } },
      paths: { '/things': { get: { security: [{ bearer: [], oauth: ['things:read'] }], responses: {} } } },
    };
    const [operation] = compileOperations(document);
    expect(operation?.credentials).toEqual(['jwt']);
    expect(operation?.scopes).toEqual(['things:read']);
  });

  it('finds duplicate keys at any depth', () => {
    const document = {
      ...base,
      security: [{ bearer: [] }],
      paths: { '/notes': { post: { requestBody: { content: { 'application/json': { schema: {} } } }, responses: {} } } },
    };
    const [operation] = compileOperations(document);
    const check = (body: string) => operation?.validate({ params: {}, query: {}, headers: {}, contentType: 'application/json', body: Buffer.from(body) });

    expect(check('{"a":{"b":1,"b":2}}')?.code).toBe('invalid_json');
    expect(check('[{"a":1},{"a":1,"a":2}]')?.code).toBe('invalid_json');
    expect(check('{"a":{"b":1},"b":{"a":1}}')).toBeUndefined();
    expect(check('{"a":"\\"a\\"","b":["a","a"],"c":{}}')).toBeUndefined();
    expect(check('[{"a":1},{"a":1}]')).toBeUndefined();
  });

  it('ignores Accept, Content-Type and Authorization parameters', () => {
    const strict = { type: 'string', enum: ['never-sent'] };
    const document = {
      ...base,
      security: [{ bearer: [] }],
      paths: {
        '/notes': {
          get: {
            parameters: ['Accept', 'Content-Type', 'Authorization'].map((name) => ({ name, in: 'header', required: true, schema: strict })),
            responses: {},
          },
        },
      },
    };
    const [operation] = compileOperations(document);
    const headers = { accept: 'application/json', 'content-type': 'text/plain', authorization: 'Bearer x' };

    expect(operation?.headerParameters).toEqual([]);
    expect(operation?.validate({ params: {}, query: {}, headers, contentType: undefined, body: undefined })).toBeUndefined();
    expect(operation?.validate({ params: {}, query: {}, headers: {}, contentType: undefined, body: undefined })).toBeUndefined();
  });

  describe('numeric values', () => {
    const document = {
      ...base,
      security: [{ bearer: [] }],
      paths: {
        '/counts/{count}': {
          post: {
            parameters: [
              { name: 'count', in: 'path', required: true, schema: { type: 'integer' } },
              { name: 'limit', in: 'query', schema: { type: 'integer' } },
              { name: 'ratio', in: 'query', schema: { type: 'number' } },
              { name: 'x-weight', in: 'header', schema: { type: 'number' } },
            ],
            requestBody: { content: { 'application/json': { schema: { type: 'object', properties: { size: { type: 'integer' }, small: { type: 'integer', maximum: 10 }, share: { type: 'number' } } } } } },
            responses: {},
          },
        },
      },
    };
    const [operation] = compileOperations(document);
    const parts = { params: { count: '1' }, query: {}, headers: {}, contentType: undefined, body: undefined };
    const unsafe = 'must be an integer from -9007199254740991 to 9007199254740991';
    const inexact = 'must be a number that a double holds exactly, such as one with at most 15 significant digits';

    it.each([
      ['path', '9007199254740993', { params: { count: '9007199254740993' } }, '/path/count', unsafe],
      ['path', '-99999999999999999999', { params: { count: '-99999999999999999999' } }, '/path/count', unsafe],
      ['query', '9007199254740992', { query: { limit: '9007199254740992' } }, '/query/limit', unsafe],
      ['query', '1e400', { query: { ratio: '1e400' } }, '/query/ratio', 'must be a finite number'],
      ['query', '-1e400', { query: { ratio: '-1e400' } }, '/query/ratio', 'must be a finite number'],
      ['query', '10.0000000000000001', { query: { ratio: '10.0000000000000001' } }, '/query/ratio', inexact],
      ['header', '-1e-400', { headers: { 'x-weight': '-1e-400' } }, '/headers/x-weight', inexact],
      ['query', 'Infinity', { query: { ratio: 'Infinity' } }, '/query/ratio', 'must be number'],
      ['query', 'NaN', { query: { limit: 'NaN' } }, '/query/limit', 'must be integer'],
      ['query', '1.0', { query: { limit: '1.0' } }, '/query/limit', 'must be integer'],
      ['query', ' 1', { query: { limit: ' 1' } }, '/query/limit', 'must be integer'],
      ['query', '0x10', { query: { limit: '0x10' } }, '/query/limit', 'must be integer'],
      ['query', '', { query: { limit: '' } }, '/query/limit', 'must be integer'],
      ['header', '1e400', { headers: { 'x-weight': '1e400' } }, '/headers/x-weight', 'must be a finite number'],
      ['body', '{"size":1e400}', { contentType: 'application/json', body: Buffer.from('{"size":1e400}') }, '/body/size', 'must be integer'],
      ['body', '{"size":9007199254740993}', { contentType: 'application/json', body: Buffer.from('{"size":9007199254740993}') }, '/body/size', 'must be <= 9007199254740991'],
      ['body', '{"size":-9007199254740993}', { contentType: 'application/json', body: Buffer.from('{"size":-9007199254740993}') }, '/body/size', 'must be >= -9007199254740991'],
      ['body', '{"small":11}', { contentType: 'application/json', body: Buffer.from('{"small":11}') }, '/body/small', 'must be <= 10'],
      ['body', '{"share":-1e400}', { contentType: 'application/json', body: Buffer.from('{"share":-1e400}') }, '/body/share', 'must be number'],
    ])('rejects the %s value %j', (_location, _text, values, pointer, detail) => {
      const found = operation?.validate({ ...parts, ...values });
      expect(found?.code).toBe('validation_failed');
      expect(found?.errors).toEqual([{ pointer, detail }]);
    });

    it.each(['{"small":10.0000000000000001}', '{"share":-1e-400}', '{"share":0.1000000000000000055511151231257827}', '{"size":1,"share":123456789.123456789}'])(
      'rejects the body %s that a double changes',
      (text) => {
        const found = operation?.validate({ ...parts, contentType: 'application/json', body: Buffer.from(text) });
        expect(found?.code).toBe('invalid_json');
        expect(found?.detail).toContain('Send it with at most 15 significant digits, or as a string.');
      },
    );

    it('accepts numbers in any spelling a double holds', () => {
      const body = Buffer.from('{"small":1.0E1,"share":0.30000000000000004,"size":-0}');
      expect(operation?.validate({ ...parts, contentType: 'application/json', body })).toBeUndefined();
    });

    it('accepts the largest safe integer', () => {
      expect(operation?.validate({ ...parts, query: { limit: '-9007199254740991' } })).toBeUndefined();
      expect(operation?.validate({ ...parts, params: { count: '9007199254740991' } })).toBeUndefined();
      expect(operation?.validate({ ...parts, contentType: 'application/json', body: Buffer.from('{"size":9007199254740991,"share":1e300}') })).toBeUndefined();
    });
  });

  describe('exclusive bounds of OpenAPI 3.0', () => {
    const positive = { type: 'integer', minimum: 0, exclusiveMinimum: true, maximum: 10, exclusiveMaximum: true };
    const documentWith = (openapi: string, bounds: Record<string, unknown>) => ({
      ...base,
      openapi,
      security: [{ bearer: [] }],
      paths: {
        '/counts': {
          post: {
            parameters: [{ name: 'limit', in: 'query', schema: bounds }],
            requestBody: { content: { 'application/json': { schema: { type: 'object', properties: { size: bounds } } } } },
            responses: { '200': { description: 'Counted.', content: { 'application/json': { schema: { type: 'object', properties: { size: bounds } } } } } },
          },
        },
      },
    });
    const parts = { params: {}, query: {}, headers: {}, contentType: undefined, body: undefined };
    const body = (text: string) => ({ ...parts, contentType: 'application/json', body: Buffer.from(text) });

    it('reads boolean exclusive bounds', () => {
      const [operation] = compileOperations(documentWith('3.0.3', positive));

      expect(operation?.validate({ ...parts, query: { limit: '1' } })).toBeUndefined();
      expect(operation?.validate({ ...parts, query: { limit: '0' } })?.errors).toEqual([{ pointer: '/query/limit', detail: 'must be > 0' }]);
      expect(operation?.validate({ ...parts, query: { limit: '10' } })?.errors).toEqual([{ pointer: '/query/limit', detail: 'must be < 10' }]);
      expect(operation?.validate(body('{"size":9}'))).toBeUndefined();
      expect(operation?.validate(body('{"size":0}'))?.errors).toEqual([{ pointer: '/body/size', detail: 'must be > 0' }]);
      expect(operation?.validate(body('{"size":10}'))?.errors).toEqual([{ pointer: '/body/size', detail: 'must be < 10' }]);

      const rule = operation?.responses.select(200, 'application/json');
      expect(rule?.kind === 'json' && rule.check({ size: 0 }).errors).toEqual([{ pointer: '/body/size', detail: 'must be > 0' }]);
    });

    it('treats false exclusive bounds as inclusive', () => {
      const [operation] = compileOperations(documentWith('3.0.3', { type: 'integer', minimum: 0, exclusiveMinimum: false, maximum: 10, exclusiveMaximum: false }));

      expect(operation?.validate({ ...parts, query: { limit: '0' } })).toBeUndefined();
      expect(operation?.validate(body('{"size":10}'))).toBeUndefined();
      expect(operation?.validate(body('{"size":11}'))?.errors).toEqual([{ pointer: '/body/size', detail: 'must be <= 10' }]);
    });

    it('reads bounds of properties named like data', () => {
      const withExample = { ...positive, example: { minimum: 1, exclusiveMinimum: true } };
      const document = documentWith('3.0.3', withExample);
      document.paths['/counts'].post.requestBody.content['application/json'].schema.properties = { default: positive, enum: positive } as never;
      const [operation] = compileOperations(document);

      expect(operation?.validate(body('{"default":0}'))?.errors).toEqual([{ pointer: '/body/default', detail: 'must be > 0' }]);
      expect(operation?.validate(body('{"enum":10}'))?.errors).toEqual([{ pointer: '/body/enum', detail: 'must be < 10' }]);
      expect(withExample.example).toEqual({ minimum: 1, exclusiveMinimum: true });
      expect(withExample.exclusiveMinimum).toBe(true);
    });

    it('rejects boolean bounds in 3.1', () => {
      expect(() => compileOperations(documentWith('3.1.0', positive))).toThrow(/exclusiveMinimum must be number/);
    });
  });

  describe('parameter styles', () => {
    const integers = { type: 'array', items: { type: 'integer' } };
    const documentWith = (parameters: unknown[]) => ({
      ...base,
      security: [{ bearer: [] }],
      paths: { '/things/{ids}': { get: { parameters, responses: {} } } },
    });
    const parts = (overrides: Record<string, unknown>) => ({ params: { ids: '1' }, query: {}, headers: {}, contentType: undefined, body: undefined, ...overrides });

    it('reads comma-separated arrays', () => {
      const [operation] = compileOperations(
        documentWith([
          { name: 'ids', in: 'path', required: true, schema: integers },
          { name: 'tags', in: 'query', explode: false, schema: integers },
          { name: 'X-Ids', in: 'header', schema: integers },
        ]),
      );

      expect(operation?.validate(parts({ params: { ids: '1,2' }, query: { tags: '3,4' }, headers: { 'x-ids': '5, 6' } }))).toBeUndefined();
      expect(operation?.validate(parts({ params: { ids: '1,x' } }))?.errors).toEqual([{ pointer: '/path/ids', detail: 'must be integer' }]);
      expect(operation?.validate(parts({ query: { tags: '3,0x4' } }))?.errors).toEqual([{ pointer: '/query/tags', detail: 'must be integer' }]);
      expect(operation?.validate(parts({ headers: { 'x-ids': '5,six' } }))?.errors).toEqual([{ pointer: '/headers/x-ids', detail: 'must be integer' }]);
    });

    it('checks text forms of composed parameters', () => {
      const integer = { type: 'integer', minimum: 1, maximum: 100 };
      const [operation] = compileOperations(
        documentWith([
          { name: 'ids', in: 'path', required: true, schema: { allOf: [integer] } },
          { name: 'limit', in: 'query', schema: { oneOf: [integer, { type: 'integer', minimum: 500, maximum: 500 }] } },
          { name: 'X-Page', in: 'header', schema: { anyOf: [{ allOf: [integer] }] } },
        ]),
      );

      expect(operation?.validate(parts({ params: { ids: '7' }, query: { limit: '500' }, headers: { 'x-page': '2' } }))).toBeUndefined();
      for (const text of ['010', '0x10', '1e1', ' 5', '5.', '0b11']) {
        expect(operation?.validate(parts({ params: { ids: text } }))?.code, text).toBe('validation_failed');
        expect(operation?.validate(parts({ query: { limit: text } }))?.errors?.[0]?.pointer, text).toBe('/query/limit');
        expect(operation?.validate(parts({ headers: { 'x-page': text } }))?.errors?.[0]?.pointer, text).toBe('/headers/x-page');
      }
    });

    it('accepts every declared text type', () => {
      const [operation] = compileOperations(
        documentWith([
          { name: 'ids', in: 'path', required: true, schema: { type: ['integer', 'boolean'] } },
          { name: 'ratio', in: 'query', schema: { type: ['integer', 'number'] } },
          { name: 'mode', in: 'query', schema: { anyOf: [{ type: 'integer' }, { type: 'boolean' }] } },
        ]),
      );

      expect(operation?.validate(parts({ params: { ids: 'true' }, query: { ratio: '1.5', mode: 'false' } }))).toBeUndefined();
      expect(operation?.validate(parts({ params: { ids: '3' }, query: { ratio: '2', mode: '4' } }))).toBeUndefined();
      expect(operation?.validate(parts({ params: { ids: 'yes' } }))?.errors).toEqual([{ pointer: '/path/ids', detail: 'must be integer or boolean' }]);
      expect(operation?.validate(parts({ query: { mode: '010' } }))?.errors).toEqual([{ pointer: '/query/mode', detail: 'must be integer or boolean' }]);
      expect(operation?.validate(parts({ query: { ratio: '9007199254740993' } }))?.errors).toEqual([{ pointer: '/query/ratio', detail: 'must be an integer from -9007199254740991 to 9007199254740991' }]);
    });

    it('rejects a repeated comma-separated query array', () => {
      const tags = { type: 'array', items: { type: 'string' }, maxItems: 2 };
      const [operation] = compileOperations(documentWith([{ name: 'ids', in: 'path', required: true, schema: { type: 'string' } }, { name: 'tags', in: 'query', explode: false, schema: tags }]));

      expect(operation?.validate(parts({ query: { tags: 'a,b' } }))).toBeUndefined();
      expect(operation?.validate(parts({ query: { tags: 'a,b,c' } }))?.errors).toEqual([{ pointer: '/query/tags', detail: 'must NOT have more than 2 items' }]);
      expect(operation?.validate(parts({ query: { tags: ['a,b,c,d', 'e'] } }))?.errors).toEqual([{ pointer: '/query/tags', detail: 'must appear once, with its items separated by commas' }]);
    });

    it('keeps repeated names for exploded query arrays', () => {
      const [operation] = compileOperations(documentWith([{ name: 'ids', in: 'path', required: true, schema: { type: 'string' } }, { name: 'tags', in: 'query', schema: integers }]));

      expect(operation?.validate(parts({ query: { tags: ['3', '4'] } }))).toBeUndefined();
      expect(operation?.validate(parts({ query: { tags: '3,4' } }))?.errors).toEqual([{ pointer: '/query/tags', detail: 'must be integer' }]);
    });

    it.each([
      [{ name: 'filter', in: 'query', style: 'deepObject', explode: true, schema: { type: 'object', properties: { size: { type: 'integer' } } } }, /query parameter 'filter' uses style 'deepObject'/],
      [{ name: 'ids', in: 'query', style: 'pipeDelimited', schema: integers }, /style 'pipeDelimited'/],
      [{ name: 'ids', in: 'path', required: true, style: 'matrix', schema: integers }, /path parameter 'ids' uses style 'matrix'/],
      [{ name: 'filter', in: 'query', schema: { type: 'object', properties: { size: { type: 'integer' } } } }, /query parameter 'filter' is an object/],
      [
        { name: 'filter', in: 'query', content: { 'application/json': { schema: { type: 'object', properties: { owner: { type: 'string' } }, additionalProperties: false } } } },
        /query parameter 'filter' declares its value with content, which the gateway cannot check/,
      ],
      [{ name: 'X-Filter', in: 'header', content: { 'text/plain': { schema: { type: 'string', maxLength: 3 } } } }, /header parameter 'X-Filter' declares its value with content/],
    ])('rejects unreadable style %#', (parameter, message) => {
      const pathParameter = { name: 'ids', in: 'path', required: true, schema: { type: 'string' } };
      const parameters = parameter.in === 'path' ? [parameter] : [pathParameter, parameter];

      expect(() => compileOperations(documentWith(parameters))).toThrow(message);
    });
  });

  describe('non-JSON request bodies', () => {
    const formSchema = { type: 'object', required: ['quantity'], properties: { quantity: { type: 'integer', maximum: 10 }, note: { type: 'string', maxLength: 5 } } };
    const documentWith = (content: Record<string, unknown>) => ({
      ...base,
      security: [{ bearer: [] }],
      paths: { '/notes': { post: { requestBody: { required: true, content }, responses: {} } } },
    });
    const FORM = 'application/x-www-form-urlencoded';

    it('validates a form body against its schema', () => {
      const [operation] = compileOperations(documentWith({ [FORM]: { schema: formSchema } }));
      const check = (body: string) => operation?.validate({ params: {}, query: {}, headers: {}, contentType: FORM, body: Buffer.from(body) });

      expect(check('quantity=5&note=hi')).toBeUndefined();
      expect(check('quantity=999')?.errors).toEqual([{ pointer: '/body/quantity', detail: 'must be <= 10' }]);
      expect(check('quantity=0x5')?.errors).toEqual([{ pointer: '/body/quantity', detail: 'must be integer' }]);
      expect(check('quantity=5&quantity=999')?.code).toBe('validation_failed');
      expect(check('note=hi')?.errors).toEqual([{ pointer: '/body/quantity', detail: "required property 'quantity' is missing" }]);
      expect(check('quantity=5&role=admin')?.errors).toEqual([{ pointer: '/body/role', detail: "unknown property 'role' is not allowed" }]);
      expect(check('quantity=5&__proto__=x')?.code).toBe('validation_failed');
    });

    it('reads media type keys with parameters', () => {
      const [operation] = compileOperations(documentWith({ 'application/json;charset=UTF-8': { schema: formSchema }, [`${FORM}; charset=utf-8`]: { schema: formSchema } }));
      const check = (contentType: string, body: string) => operation?.validate({ params: {}, query: {}, headers: {}, contentType, body: Buffer.from(body) });

      expect(check('application/json;charset=UTF-8', '{"quantity":5}')).toBeUndefined();
      expect(check('application/json', '{"quantity":"5"}')?.errors).toEqual([{ pointer: '/body/quantity', detail: 'must be integer' }]);
      expect(check(FORM, 'quantity=0x5')?.errors).toEqual([{ pointer: '/body/quantity', detail: 'must be integer' }]);
      expect(check('text/plain', 'quantity=5')?.detail).toBe('The Content-Type must be one of: application/json, application/x-www-form-urlencoded.');
    });

    it('rejects a media type declared twice', () => {
      const content = { 'application/json': { schema: formSchema }, 'application/json; charset=utf-8': {} };
      expect(() => compileOperations(documentWith(content))).toThrow(/POST \/notes: request body declares the media type application\/json twice/);
    });

    it('checks text forms in composed form schemas', () => {
      const composed = {
        allOf: [{ type: 'object', properties: { quantity: { type: 'integer', minimum: 1 } } }, { properties: { note: { type: 'string' }, gift: { allOf: [{ type: 'boolean' }] } } }],
      };
      const [operation] = compileOperations(documentWith({ [FORM]: { schema: composed } }));
      const check = (body: string) => operation?.validate({ params: {}, query: {}, headers: {}, contentType: FORM, body: Buffer.from(body) });

      expect(check('quantity=5&note=0x5&gift=true')).toBeUndefined();
      for (const body of ['quantity=0x1', 'quantity=%201', 'quantity=1e0', 'quantity=010', 'gift=1']) {
        expect(check(body)?.code, body).toBe('validation_failed');
      }
    });

    it('checks text forms of undeclared form fields', () => {
      const open = { type: 'object', properties: { note: { type: 'string' } }, patternProperties: { '^flag_': { type: 'boolean' } }, additionalProperties: { type: 'integer', maximum: 5 } };
      const [operation] = compileOperations(documentWith({ [FORM]: { schema: open } }));
      const check = (body: string) => operation?.validate({ params: {}, query: {}, headers: {}, contentType: FORM, body: Buffer.from(body) });

      expect(check('note=0x5&size=5&flag_gift=true')).toBeUndefined();
      expect(check('size=0x5')?.errors).toEqual([{ pointer: '/body/size', detail: 'must be integer' }]);
      expect(check('size=%205')?.errors).toEqual([{ pointer: '/body/size', detail: 'must be integer' }]);
      expect(check('flag_gift=1')?.errors).toEqual([{ pointer: '/body/flag_gift', detail: 'must be boolean' }]);
    });

    it('rejects spellings of composed form properties', () => {
      const base = { type: 'object', additionalProperties: true, properties: { owner: { type: 'string', readOnly: true }, limit: { type: 'integer', maximum: 5 } } };
      const [operation] = compileOperations(documentWith({ [FORM]: { schema: { allOf: [base], additionalProperties: true } } }));
      const check = (body: string) => operation?.validate({ params: {}, query: {}, headers: {}, contentType: FORM, body: Buffer.from(body) });

      expect(check('limit=5&colour=red')).toBeUndefined();
      for (const [body, field, property] of [
        ['owner[]=admin', 'owner[]', 'owner'],
        ['limit.max=99', 'limit.max', 'limit'],
      ]) {
        expect(check(body as string)?.errors, body).toEqual([
          { pointer: `/body/${field}`, detail: `is read by some servers as the property '${property}' or a member of it, which the schema did not check` },
        ]);
      }
    });

    it('rejects nested spellings in open forms', () => {
      const openSchema = {
        type: 'object',
        additionalProperties: true,
        properties: { owner: { type: 'string', readOnly: true }, tenant_id: { type: 'string', maxLength: 2 }, limits: { type: 'object', properties: { max: { type: 'integer', maximum: 5 } } } },
      };
      const [operation] = compileOperations(documentWith({ [FORM]: { schema: openSchema } }));
      const check = (body: string) => operation?.validate({ params: {}, query: {}, headers: {}, contentType: FORM, body: Buffer.from(body) });

      expect(check('tenant_id=t1&colour=red&owners=x')).toBeUndefined();
      for (const [body, field, property] of [
        ['owner[]=admin', 'owner[]', 'owner'],
        ['OWNER[x]=admin', 'OWNER[x]', 'owner'],
        ['owner.x=admin', 'owner.x', 'owner'],
        ['limits[max]=99', 'limits[max]', 'limits'],
        ['tenant_id=t1&tenant.id=t9999', 'tenant.id', 'tenant_id'],
        ['tenant_id=t1&tenant%5Bid=t9999', 'tenant[id', 'tenant_id'],
      ]) {
        expect(check(body as string)?.errors, body).toEqual([
          { pointer: `/body/${field}`, detail: `is read by some servers as the property '${property}' or a member of it, which the schema did not check` },
        ]);
      }
    });

    it('rejects a form charset other than UTF-8', () => {
      const [operation] = compileOperations(documentWith({ [FORM]: { schema: formSchema } }));
      const check = (contentType: string) => operation?.validate({ params: {}, query: {}, headers: {}, contentType, body: Buffer.from('quantity=5&note=%C3%A9') });

      expect(check(`${FORM}; charset=iso-8859-1`)?.code).toBe('unsupported_media_type');
      expect(check(`${FORM}; charset=UTF-8`)).toBeUndefined();
    });

    it('rejects a form body that is not UTF-8', () => {
      const [operation] = compileOperations(documentWith({ [FORM]: { schema: formSchema } }));
      const check = (body: Buffer) => operation?.validate({ params: {}, query: {}, headers: {}, contentType: FORM, body });
      const notUtf8 = 'The request body is not valid form data: it is not valid UTF-8.';

      // An overlong encoding of '.', which a lenient decoder reads as '.'.
      expect(check(Buffer.from('quantity=5&note=%C0%AE%C0%AE'))).toEqual({ code: 'invalid_request', detail: notUtf8 });
      expect(check(Buffer.from('quantity=5&note%FF=x'))).toEqual({ code: 'invalid_request', detail: notUtf8 });
      expect(check(Buffer.concat([Buffer.from('quantity=5&note='), Buffer.from([0xe9])]))).toEqual({ code: 'invalid_request', detail: notUtf8 });
      expect(check(Buffer.from('quantity=5&note=%C3%A9'))).toBeUndefined();
      expect(check(Buffer.from('quantity=5&note=100%'))).toBeUndefined();
      expect(check(Buffer.from('quantity=5&note=%zz'))).toBeUndefined();
    });

    it('rejects a literal semicolon in a form body', () => {
      const [operation] = compileOperations(documentWith({ [FORM]: { schema: formSchema } }));
      const check = (body: string) => operation?.validate({ params: {}, query: {}, headers: {}, contentType: FORM, body: Buffer.from(body) });
      const separator = "The request body is not valid form data: it contains a literal ';', which some servers read as a field separator. Percent-encode it as %3B.";

      // URLSearchParams reads the note 'a;q=9', and a parser that splits at ';' reads a field q.
      expect(check('quantity=5&note=a;q=9')).toEqual({ code: 'invalid_request', detail: separator });
      expect(check('quantity=5;quantity=999')).toEqual({ code: 'invalid_request', detail: separator });
      expect(check('quantity=5&note=a%3Bb')).toBeUndefined();
    });

    it('rejects JSON named in the parameters of another type', () => {
      // Laravel's Request::isJson looks for '/json' or '+json' anywhere in
      // the header and would read this multipart body as unchecked JSON.
      const [operation] = compileOperations(documentWith({ 'application/json': { schema: formSchema }, 'multipart/form-data': {} }));
      const check = (contentType: string) => operation?.validate({ params: {}, query: {}, headers: {}, contentType, body: Buffer.from('{"quantity":5,"role":"admin"}') });
      const detail = "The Content-Type names JSON in a parameter of another media type, which some servers read as JSON. Send a JSON body as application/json.";

      expect(check('multipart/form-data; boundary=b; x=/json')).toEqual({ code: 'unsupported_media_type', detail });
      expect(check('multipart/form-data; boundary="a+json"')).toEqual({ code: 'unsupported_media_type', detail });
      expect(check('multipart/form-data; boundary=b')).toBeUndefined();
      expect(check('application/json; charset=utf-8')?.code).toBe('validation_failed');
    });

    it('rejects a schema it cannot check', () => {
      expect(() => compileOperations(documentWith({ 'multipart/form-data': { schema: formSchema } }))).toThrow(/POST \/notes.*multipart\/form-data/);
      expect(() => compileOperations(documentWith({ 'application/xml': { schema: formSchema } }))).toThrow(/application\/xml/);
    });

    it('forwards opaque bodies unchecked', () => {
      const [operation] = compileOperations(
        documentWith({ 'multipart/form-data': {}, 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } }),
      );
      const check = (contentType: string) => operation?.validate({ params: {}, query: {}, headers: {}, contentType, body: Buffer.from('--x\r\n') });

      expect(check('multipart/form-data; boundary=x')).toBeUndefined();
      expect(check('application/octet-stream')).toBeUndefined();
    });
  });

  it('accepts nullable in 3.0 documents', () => {
    const document = {
      ...base,
      security: [{ bearer: [] }],
      paths: {
        '/notes': {
          post: {
            requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', properties: { text: { type: 'string', nullable: true } } } } } },
            responses: {},
          },
        },
      },
    };
    const [operation] = compileOperations(document);
    const parts = { params: {}, query: {}, headers: {}, contentType: 'application/json', body: Buffer.from('{"text":null}') };
    expect(operation?.validate(parts)).toBeUndefined();
  });

  /** Compiles a 3.1 operation that takes a JSON body of `schema`, and returns its check of a body. */
  function jsonBodyValidator(schema: Record<string, unknown>) {
    const document = {
      ...base,
      openapi: '3.1.0',
      security: [{ bearer: [] }],
      paths: { '/labels': { post: { requestBody: { content: { 'application/json': { schema } } }, responses: {} } } },
    };
    const [operation] = compileOperations(document);

    return (body: unknown) => operation?.validate({ params: {}, query: {}, headers: {}, contentType: 'application/json', body: Buffer.from(JSON.stringify(body)) });
  }

  describe('objects under nested keywords', () => {
    const entry = { type: 'object', properties: { label: { type: 'string' }, owner: { type: 'string', readOnly: true } } };
    const schema = {
      type: 'object',
      properties: { name: { type: 'string' }, tags: { type: 'array', prefixItems: [{ type: 'string' }], unevaluatedItems: entry } },
      patternProperties: { '^x-': entry },
      unevaluatedProperties: entry,
    };
    const validate = jsonBodyValidator(schema);

    it('accepts declared properties', () => {
      expect(validate({ name: 'a', 'x-one': { label: 'l' }, tags: ['t', { label: 'u' }], other: { label: 'o' } })).toBeUndefined();
    });

    it.each([
      ['patternProperties', { 'x-one': { label: 'l', owner: 'bob' } }, '/body/x-one/owner'],
      ['unevaluatedItems', { tags: ['t', { owner: 'bob' }] }, '/body/tags/1/owner'],
      ['unevaluatedProperties', { other: { owner: 'bob' } }, '/body/other/owner'],
    ])('rejects read-only under %s', (_keyword, body, pointer) => {
      const found = validate(body);
      expect(found?.code).toBe('validation_failed');
      expect(found?.errors).toContainEqual({ pointer, detail: 'property is read-only or not allowed in requests' });
    });

    it.each([
      ['patternProperties', { 'x-one': { label: 'l', isAdmin: true } }, '/body/x-one/isAdmin'],
      ['unevaluatedItems', { tags: ['t', { isAdmin: true }] }, '/body/tags/1/isAdmin'],
      ['unevaluatedProperties', { other: { isAdmin: true } }, '/body/other/isAdmin'],
    ])('rejects undeclared under %s', (_keyword, body, pointer) => {
      const found = validate(body);
      expect(found?.code).toBe('validation_failed');
      expect(found?.errors).toContainEqual({ pointer, detail: "unknown property 'isAdmin' is not allowed" });
    });
  });

  describe('conditions under if and not', () => {
    // These subschemas test the value rather than describe it, so closing
    // them would change which bodies they match.
    const schema = {
      type: 'object',
      properties: { kind: { enum: ['user', 'service'] }, serviceId: { type: 'string' }, role: { enum: ['user', 'admin'] }, name: { type: 'string' } },
      if: { properties: { kind: { const: 'service' } }, required: ['kind'] },
      then: { required: ['serviceId'] },
      not: { properties: { role: { const: 'admin' } }, required: ['role'] },
    };
    const validate = jsonBodyValidator(schema);

    it('applies then when if matches', () => {
      expect(validate({ kind: 'service', name: 'a' })?.errors).toContainEqual({ pointer: '/body/serviceId', detail: "required property 'serviceId' is missing" });
      expect(validate({ kind: 'service', name: 'a', serviceId: 's1' })).toBeUndefined();
      expect(validate({ kind: 'user', name: 'a' })).toBeUndefined();
    });

    it('rejects what not matches', () => {
      expect(validate({ role: 'admin', name: 'a' })?.code).toBe('validation_failed');
      expect(validate({ role: 'user', name: 'a' })).toBeUndefined();
    });

    it('still closes the object itself', () => {
      expect(validate({ kind: 'user', isAdmin: true })?.errors).toEqual([{ pointer: '/body/isAdmin', detail: "unknown property 'isAdmin' is not allowed" }]);
    });
  });

  describe('read-only values of unnamed properties', () => {
    const readOnly = { type: 'string', readOnly: true };
    const schema = {
      type: 'object',
      properties: {
        name: { type: 'string' },
        flags: { type: 'object', patternProperties: { '^is': readOnly, '^x-': { type: 'string' } } },
        labels: { type: 'object', properties: { id: readOnly }, additionalProperties: readOnly },
        notes: { type: 'object', unevaluatedProperties: { allOf: [readOnly] } },
        meta: {
          type: 'object',
          properties: { createdBy: readOnly, kind: readOnly, 'a-b]': readOnly, note: { type: 'string', maxLength: 10 } },
          additionalProperties: { type: 'string' },
        },
      },
    };
    const validate = jsonBodyValidator(schema);

    it('accepts properties that are not read-only', () => {
      expect(validate({ name: 'a', flags: { 'x-one': 'b' }, labels: {}, notes: {} })).toBeUndefined();
    });

    it.each([
      ['patternProperties', { flags: { isAdmin: 'true' } }, '/body/flags/isAdmin'],
      ['additionalProperties', { labels: { owner: 'bob' } }, '/body/labels/owner'],
      // ajv reports an unevaluated property at its object.
      ['unevaluatedProperties', { notes: { owner: 'bob' } }, '/body/notes'],
    ])('rejects read-only under %s', (_keyword, body, pointer) => {
      const found = validate(body);
      expect(found?.code).toBe('validation_failed');
      expect(found?.errors?.map((error) => error.pointer)).toContain(pointer);
    });

    it('accepts unnamed properties of an open object', () => {
      expect(validate({ meta: { creator: 'a', createdByMe: 'b', kinds: 'c', note: 'd' } })).toBeUndefined();
    });

    it('rejects a checked name in another case in an open object', () => {
      const found = validate({ meta: { note: 'short', NOTE: 'x'.repeat(100) } });
      expect(found?.code).toBe('validation_failed');
      expect(found?.errors).toEqual([{ pointer: '/body/meta/NOTE', detail: 'property is read-only or not allowed in requests' }]);
    });

    // Go's encoding/json and ASP.NET Core read these as the read-only property.
    it.each([['createdBy'], ['CreatedBy'], ['CREATEDBY'], ['createdby'], ['Kind'], ['\u212aind'], ['A-B]']])('rejects the read-only name %s in an open object', (name) => {
      const found = validate({ meta: { [name]: 'bob' } });
      expect(found?.code).toBe('validation_failed');
      expect(found?.errors?.map((error) => error.pointer)).toContain(`/body/meta/${name}`);
    });
  });

  describe('object schemas composed with allOf', () => {
    const pet = { type: 'object', required: ['name'], properties: { id: { type: 'string', readOnly: true }, name: { type: 'string', maxLength: 5 } } };
    const paths = {
      '/pets': { post: { requestBody: { content: { 'application/json': { schema: { allOf: [pet, { type: 'object', properties: { color: { type: 'string' } } }] } } } }, responses: {} } },
      '/tags': {
        post: {
          requestBody: {
            content: { 'application/json': { schema: { type: 'object', properties: { tag: { type: 'string' } }, allOf: [{ allOf: [pet] }, { properties: { size: { type: 'integer' } } }] } } },
          },
          responses: {},
        },
      },
      '/names': { post: { requestBody: { content: { 'application/json': { schema: pet } } }, responses: {} } },
    };

    describe.each(['3.0.3', '3.1.0'])('in OpenAPI %s', (version) => {
      const operations = compileOperations({ ...base, openapi: version, security: [{ bearer: [] }], paths });
      const validate = (path: string, body: unknown) =>
        operations
          .find((operation) => operation.path === path)
          ?.validate({ params: {}, query: {}, headers: {}, contentType: 'application/json', body: Buffer.from(JSON.stringify(body)) });

      it('accepts properties of every branch', () => {
        expect(validate('/pets', { name: 'rex', color: 'red' })).toBeUndefined();
        expect(validate('/tags', { name: 'rex', tag: 't', size: 2 })).toBeUndefined();
      });

      it('rejects undeclared and read-only properties', () => {
        expect(validate('/pets', { name: 'rex', color: 'red', owner: 'bob' })?.errors).toContainEqual({ pointer: '/body/owner', detail: "unknown property 'owner' is not allowed" });
        expect(validate('/tags', { name: 'rex', color: 'red' })?.errors).toContainEqual({ pointer: '/body/color', detail: "unknown property 'color' is not allowed" });
        expect(validate('/pets', { name: 'rex', id: 'p1' })?.errors).toContainEqual({ pointer: '/body/id', detail: 'property is read-only or not allowed in requests' });
      });

      it('checks each branch value', () => {
        expect(validate('/pets', { name: 'rex-the-dog', color: 'red' })?.errors).toEqual([{ pointer: '/body/name', detail: 'must NOT have more than 5 characters' }]);
        expect(validate('/tags', { name: 'rex', size: 'big' })?.errors).toEqual([{ pointer: '/body/size', detail: 'must be integer' }]);
      });

      it('keeps a shared branch closed elsewhere', () => {
        expect(validate('/names', { name: 'rex', color: 'red' })?.errors).toEqual([{ pointer: '/body/color', detail: "unknown property 'color' is not allowed" }]);
      });
    });
  });

  describe('schemas under dependentSchemas', () => {
    const schema = {
      type: 'object',
      properties: { name: { type: 'string' }, card: { type: 'string' } },
      dependentSchemas: {
        card: {
          properties: {
            billing: { type: 'object', properties: { city: { type: 'string' } } },
            verifiedBy: { type: 'string', readOnly: true },
          },
        },
      },
      unevaluatedProperties: false,
    };
    const validate = jsonBodyValidator(schema);

    it('accepts the properties they declare', () => {
      expect(validate({ name: 'a', card: '4111', billing: { city: 'Oslo' } })).toBeUndefined();
    });

    it('rejects their read-only properties', () => {
      const found = validate({ name: 'a', card: '4111', verifiedBy: 'bank' });
      expect(found?.code).toBe('validation_failed');
      expect(found?.errors).toContainEqual({ pointer: '/body/verifiedBy', detail: 'property is read-only or not allowed in requests' });
    });

    it('closes the objects they declare', () => {
      const found = validate({ name: 'a', card: '4111', billing: { city: 'Oslo', owner: 'bob' } });
      expect(found?.code).toBe('validation_failed');
      expect(found?.errors).toContainEqual({ pointer: '/body/billing/owner', detail: "unknown property 'owner' is not allowed" });
    });

    it('rejects read-only under dependencies', () => {
      const draft7 = {
        type: 'object',
        additionalProperties: true,
        properties: { card: { type: 'string' } },
        dependencies: { card: { properties: { verifiedBy: { type: 'string', readOnly: true } } }, name: ['card'] },
      };
      const [operation] = compileOperations({
        ...base,
        openapi: '3.0.3',
        security: [{ bearer: [] }],
        paths: { '/labels': { post: { requestBody: { content: { 'application/json': { schema: draft7 } } }, responses: {} } } },
      });
      const check = (body: unknown) => operation?.validate({ params: {}, query: {}, headers: {}, contentType: 'application/json', body: Buffer.from(JSON.stringify(body)) });

      expect(check({ card: '4111', note: 'x' })).toBeUndefined();
      expect(check({ card: '4111', verifiedBy: 'bank' })?.errors).toContainEqual({ pointer: '/body/verifiedBy', detail: 'property is read-only or not allowed in requests' });
      expect(check({ name: 'a' })?.code).toBe('validation_failed');
    });
  });

  describe('read-only properties behind composition', () => {
    // A 3.0 document cannot put siblings next to a $ref, so a described
    // reference to a read-only schema is commonly wrapped in allOf.
    const role = { type: 'string', enum: ['user', 'admin'], readOnly: true };
    const properties = {
      name: { type: 'string' },
      role: { allOf: [role], description: 'Set by the service.' },
      tier: { allOf: [{ allOf: [role] }] },
      state: { oneOf: [role, { ...role, enum: ['locked'] }] },
    };
    const document = {
      ...base,
      security: [{ bearer: [] }],
      paths: {
        '/accounts': {
          post: {
            requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['name', 'role'], properties } } } },
            responses: {},
          },
        },
      },
    };
    const [operation] = compileOperations(document);

    function validate(body: unknown) {
      return operation?.validate({ params: {}, query: {}, headers: {}, contentType: 'application/json', body: Buffer.from(JSON.stringify(body)) });
    }

    it.each([
      ['role', { name: 'a', role: 'admin' }],
      ['tier', { name: 'a', tier: 'admin' }],
      ['state', { name: 'a', state: 'user' }],
    ])('rejects %s', (name, body) => {
      const found = validate(body);
      expect(found?.code).toBe('validation_failed');
      expect(found?.errors).toContainEqual({ pointer: `/body/${name}`, detail: 'property is read-only or not allowed in requests' });
    });

    it('drops them from required', () => {
      expect(validate({ name: 'a' })).toBeUndefined();
    });

    it('rejects a read-only alternative', () => {
      const nullable = { name: { type: 'string' }, level: { anyOf: [role, { type: 'null' }] }, grade: { oneOf: [{ type: 'null' }, { allOf: [role] }] } };
      const [nullableOperation] = compileOperations({
        ...document,
        paths: { '/accounts': { post: { requestBody: { content: { 'application/json': { schema: { type: 'object', properties: nullable } } } }, responses: {} } } },
      });
      const check = (body: unknown) =>
        nullableOperation?.validate({ params: {}, query: {}, headers: {}, contentType: 'application/json', body: Buffer.from(JSON.stringify(body)) });

      expect(check({ name: 'a', level: null, grade: null })).toBeUndefined();
      expect(check({ name: 'a', level: 'admin' })?.errors).toContainEqual({ pointer: '/body/level', detail: 'property is read-only or not allowed in requests' });
      expect(check({ name: 'a', grade: 'admin' })?.errors).toContainEqual({ pointer: '/body/grade', detail: 'property is read-only or not allowed in requests' });
    });
  });
});
