import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { deflateSync, gzipSync } from 'node:zlib';
import { SignJWT, importJWK, type JWTPayload } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { writeConfigFile } from '../support/config-file.js';
import { obtainTokens } from '../support/oauth.js';
import { lastJsonBody, sendRaw, statusCodes } from '../support/raw-socket.js';
import { startTestServer, type TestServer } from '../support/server.js';

const PAST = '2020-01-01T00:00:00Z';
const RECENT = '2025-01-01T00:00:00Z';
const FUTURE = '2099-12-31T23:59:59Z';
const FUTURE_HTTP_DATE = 'Thu, 31 Dec 2099 23:59:59 GMT';
const SECURED = [{ oauth: ['orders:read'] }];

/** The fixture upstream's document: one public operation and several secured ones. */
const FIXTURE_DOCUMENT = {
  openapi: '3.1.0',
  info: { title: 'Fixture', version: '2' },
  components: { securitySchemes: { oauth: { type: 'http', scheme: 'bearer' } } },
  paths: {
    '/status': { get: { operationId: 'status', responses: { '200': { description: 'Up.' } } } },
    '/items': {
      get: {
        operationId: 'listItems',
        security: SECURED,
        parameters: [{ name: 'q', in: 'query', schema: { type: 'string', pattern: '^[^<>]*$' } }],
        responses: { '200': { description: 'Items.' } },
      },
    },
    '/reports': { get: { operationId: 'listReports', deprecated: true, security: SECURED, responses: { '200': { description: 'Reports.' } } } },
    '/archive': { get: { operationId: 'listArchive', security: SECURED, responses: { '200': { description: 'Archive.' } } } },
    '/tenant-items': {
      get: {
        operationId: 'listTenantItems',
        security: SECURED,
        parameters: [{ name: 'tenantId', in: 'query', required: true, schema: { type: 'string' } }],
        responses: { '200': { description: 'Items.' } },
      },
    },
    '/transfers': {
      post: {
        operationId: 'createTransfer',
        security: SECURED,
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['source', 'amount'],
                properties: {
                  source: { type: 'object', properties: { account: { type: 'string' } }, additionalProperties: true },
                  targets: { type: 'array', items: { type: 'string' } },
                  amount: { type: 'integer' },
                },
                additionalProperties: false,
              },
            },
          },
        },
        responses: { '200': { description: 'Accepted.' } },
      },
    },
    '/users/{userId}/items': {
      get: {
        operationId: 'listUserItems',
        security: SECURED,
        parameters: [{ name: 'userId', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': { description: 'Items.' } },
      },
    },
  },
};

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
}

interface Problem {
  code: string;
  detail: string;
}

describe('gateway policy per upstream and operation', () => {
  let upstream: Server;
  let received: Received[];
  let server: TestServer;
  let token: string;
  let tenantToken: string;
  let subject: string;

  beforeAll(async () => {
    received = [];
    upstream = createServer((request, response) => {
      received.push({ path: request.url ?? '', headers: request.headers });
      response.setHeader('content-type', 'application/json');
      response.end('{"ok":true}');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const document = await writeConfigFile(FIXTURE_DOCUMENT);

    const config = await writeConfigFile({
      gateway: {
        upstreams: [
          {
            name: 'current',
            url,
            mountPath: '/v2',
            openapi: document,
            operations: {
              status: { public: true },
              listReports: { deprecation: RECENT, sunset: FUTURE, deprecationLink: 'https://docs.example/reports', sunsetLink: 'https://docs.example/sunset' },
              listArchive: { deprecation: PAST, sunset: PAST },
              'GET /users/{userId}/items': { bindings: [{ in: 'path', name: 'userId', claim: 'sub', match: 'equals' }] },
              listTenantItems: { bindings: [{ in: 'query', name: 'tenantId', claim: 'tenants', match: 'oneOf' }] },
              createTransfer: { bindings: [{ in: 'body', name: '/source/account', claim: 'tenants', match: 'oneOf' }] },
            },
          },
          { name: 'previous', url, mountPath: '/v1', openapi: document, deprecation: RECENT, sunset: FUTURE, operations: { status: { public: true } } },
          { name: 'retired', url, mountPath: '/v0', openapi: document, deprecation: PAST, sunset: PAST, operations: { status: { public: true } } },
          { name: 'unsigned', url, mountPath: '/v3', openapi: document, identityAssertion: false, deprecation: RECENT, operations: { status: { public: true } } },
          {
            // Without a document the gateway has no declared query to close.
            name: 'routed',
            url,
            mountPath: '/v4',
            routes: [
              { method: 'GET', path: '/tenant-items', scopes: ['orders:read'], roles: [], credentials: ['jwt'] },
              { method: 'POST', path: '/transfers', scopes: ['orders:read'], roles: [], credentials: ['jwt'] },
              { method: 'PATCH', path: '/users/:userId/profile', scopes: ['orders:read'], roles: [], credentials: ['jwt'] },
            ],
            operations: {
              'GET /tenant-items': { bindings: [{ in: 'query', name: 'tenantId', claim: 'tenants', match: 'oneOf' }] },
              'POST /transfers': { bindings: [{ in: 'body', name: '/targets', claim: 'tenants', match: 'oneOf' }] },
              'PATCH /users/{userId}/profile': { bindings: [{ in: 'path', name: 'userId', claim: 'sub', match: 'equals' }] },
            },
          },
        ],
      },
      rateLimit: { flows: [] },
    });
    server = await startTestServer({ config });
    const user = await createUser(server, 'policy_user');
    subject = user.id;
    token = (await obtainTokens(server, user)).tokens.access_token;
    tenantToken = await withClaims(token, { tenants: ['t1', 't2'] });
  });

  /** Re-signs an issued token with extra claims, as an authorization server that issues them would. */
  async function withClaims(issued: string, extra: JWTPayload): Promise<string> {
    const active = server.running.keyRing.keys[0];
    if (active === undefined) {
      throw new Error('no active signing key');
    }

    const claims = JSON.parse(Buffer.from(issued.split('.')[1] ?? '', 'base64url').toString()) as JWTPayload;
    const key = await importJWK(active.privateJwk, 'ES256');
    return new SignJWT({ ...claims, ...extra }).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: active.kid }).sign(key);
  }

  afterAll(async () => {
    await server.close();
    await new Promise((resolve) => upstream.close(resolve));
  });

  beforeEach(() => {
    received.length = 0;
  });

  function call(path: string, credential?: string, headers: Record<string, string> = {}): Promise<Response> {
    const authorization: Record<string, string> = credential === undefined ? {} : { authorization: `Bearer ${credential}` };
    return fetch(`${server.url}${path}`, { headers: { ...authorization, ...headers } });
  }

  it('signs identities unless the upstream turns it off', async () => {
    expect((await call('/v2/items', token)).status).toBe(200);
    expect((await call('/v3/items', token)).status).toBe(200);

    const [signed, unsigned] = received;
    expect(signed?.headers['x-portcullis-identity']).toMatch(/^ey/);
    expect(unsigned?.headers['x-portcullis-identity']).toBeUndefined();
    expect(unsigned?.headers['x-portcullis-subject']).toBe(subject);
  });

  it('serves a public operation without credentials', async () => {
    const response = await call('/v2/status', undefined, { 'x-portcullis-subject': 'forged' });
    expect(response.status).toBe(200);
    expect(received).toHaveLength(1);
    expect(received[0]?.headers['x-portcullis-subject']).toBeUndefined();
    expect(received[0]?.headers['x-portcullis-request-id']).toBeDefined();
  });

  it('never forwards a credential to a public operation', async () => {
    const response = await call('/v2/status', 'not-a-token');
    expect(response.status).toBe(200);
    expect(received[0]?.headers['authorization']).toBeUndefined();
  });

  it('rejects credentials in a public query string', async () => {
    const response = await call('/v2/status?access_token=secret');
    expect(response.status).toBe(400);
    const problem = (await response.json()) as Problem;
    expect(problem.code).toBe('invalid_request');
    expect(problem.detail).toContain("Credentials are not accepted in the query string ('access_token')");
    expect(received).toHaveLength(0);
  });

  it('still requires credentials elsewhere', async () => {
    const response = await call('/v2/items');
    expect(response.status).toBe(401);
    expect(received).toHaveLength(0);
  });

  it('routes each mount path to its upstream', async () => {
    expect((await call('/v2/items', token)).status).toBe(200);
    expect((await call('/v1/items', token)).status).toBe(200);
    expect(received.map((request) => request.path)).toEqual(['/items', '/items']);
  });

  it('announces a deprecated operation before its sunset', async () => {
    const response = await call('/v2/reports', token);
    expect(response.status).toBe(200);
    expect(response.headers.get('deprecation')).toBe(`@${Date.parse(RECENT) / 1000}`);
    expect(response.headers.get('sunset')).toBe(FUTURE_HTTP_DATE);
    expect(response.headers.get('link')).toBe('<https://docs.example/reports>; rel="deprecation", <https://docs.example/sunset>; rel="sunset"');
  });

  it('announces the deprecation on refused requests too', async () => {
    const response = await call('/v2/reports');
    expect(response.status).toBe(401);
    expect(response.headers.get('sunset')).toBe(FUTURE_HTTP_DATE);
  });

  it('leaves other operations unannounced', async () => {
    const response = await call('/v2/items', token);
    expect(response.headers.get('deprecation')).toBeNull();
    expect(response.headers.get('sunset')).toBeNull();
  });

  it('answers 410 after the sunset without calling the upstream', async () => {
    for (const credential of [token, undefined]) {
      const response = await call('/v2/archive', credential);
      expect(response.status).toBe(410);
      expect(response.headers.get('sunset')).toBe('Wed, 01 Jan 2020 00:00:00 GMT');
      const problem = (await response.json()) as Problem;
      expect(problem.code).toBe('gone');
      expect(problem.detail).toBe('This operation was retired on 2020-01-01T00:00:00.000Z.');
    }
    expect(received).toHaveLength(0);
  });

  it('deprecates every operation of a deprecated upstream', async () => {
    for (const path of ['/v1/items', '/v1/status']) {
      const response = await call(path, token);
      expect(response.status, path).toBe(200);
      expect(response.headers.get('deprecation'), path).toBe(`@${Date.parse(RECENT) / 1000}`);
      expect(response.headers.get('sunset'), path).toBe(FUTURE_HTTP_DATE);
    }
  });

  it('retires every operation of a sunset upstream', async () => {
    expect((await call('/v0/status')).status).toBe(410);
    expect((await call('/v0/items', token)).status).toBe(410);
    expect(received).toHaveLength(0);
  });

  it('binds the path to the caller', async () => {
    expect((await call(`/v2/users/${subject}/items`, token)).status).toBe(200);

    const response = await call('/v2/users/someone-else/items', token);
    expect(response.status).toBe(404);
    expect(((await response.json()) as Problem).detail).toBe('No resource matches the path parameter.');
    expect(received.map((request) => request.path)).toEqual([`/users/${subject}/items`]);
  });

  it('binds a query parameter to a token claim list', async () => {
    expect((await call('/v2/tenant-items?tenantId=t2', tenantToken)).status).toBe(200);
    expect((await call('/v2/tenant-items?tenantId=t3', tenantToken)).status).toBe(404);
    expect((await call('/v2/tenant-items?tenantId=t1&tenantId=t3', tenantToken)).status).toBe(404);
    expect(received.map((request) => request.path)).toEqual(['/tenant-items?tenantId=t2']);
  });

  it('rejects other spellings of a bound query parameter', async () => {
    expect((await call('/v4/tenant-items?tenantId=t1', tenantToken)).status).toBe(200);
    for (const variant of ['TenantId=t3', 'tenantid=t3', 'tenantId[]=t3', 'tenantId%5B0%5D=t3']) {
      expect((await call(`/v4/tenant-items?tenantId=t1&${variant}`, tenantToken)).status, variant).toBe(404);
    }
    expect(received.map((request) => request.path)).toEqual(['/tenant-items?tenantId=t1']);
  });

  it('rejects a semicolon in a bound query', async () => {
    // Servers that split at ';' as well as '&' read tenantId=t3 here.
    for (const path of ['/v4/tenant-items?note=x;tenantId=t3&tenantId=t1', '/v4/tenant-items?tenantId=t1;tenantId=t3', '/v2/tenant-items?tenantId=t1;tenantId=t3']) {
      const response = await call(path, tenantToken);

      expect(response.status, path).toBe(400);
      expect(((await response.json()) as Problem).code, path).toBe('invalid_request');
    }
    expect((await call('/v4/tenant-items?tenantId=t1&note=x%3By', tenantToken)).status).toBe(200);
    expect(received.map((request) => request.path)).toEqual(['/tenant-items?tenantId=t1&note=x%3By']);
  });

  // The router reads the query from the first '?' or '#', and the upstream
  // gets the query from the first '?'. fetch drops a fragment, so the
  // request goes out on a socket.
  it('rejects a number sign in a bound query', async () => {
    const port = Number(new URL(server.url).port);
    for (const target of ['/v4/tenant-items#tenantId=t1&x?tenantId=t3', '/v2/items#q=a?q=%3Cb%3E', '/v4/tenant-items?tenantId=t1#&tenantId=t3']) {
      const { received: response } = await sendRaw(port, `GET ${target} HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${tenantToken}\r\nConnection: close\r\n\r\n`);

      expect(statusCodes(response), target).toEqual([400]);
      expect(lastJsonBody(response).code, target).toBe('invalid_request');
    }
    expect(received).toEqual([]);
  });

  /** Posts `body` as JSON, or with `contentType`, to the transfer operation at `mountPath`. */
  function transfer(mountPath: string, body: string, contentType = 'application/json', query = ''): Promise<Response> {
    return fetch(`${server.url}${mountPath}/transfers${query}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tenantToken}`, 'content-type': contentType },
      body,
    });
  }

  it('binds a body member to a token claim list', async () => {
    expect((await transfer('/v2', '{"source":{"account":"t1"},"amount":5}')).status).toBe(200);

    const rejected = await transfer('/v2', '{"source":{"account":"t3"},"amount":5}');
    expect(rejected.status).toBe(404);
    expect(((await rejected.json()) as Problem).detail).toBe('No resource matches the request body.');
    expect(received.map((request) => request.path)).toEqual(['/transfers']);
  });

  // The routed upstream has no document, so no validation runs before its body binding.
  it.each([
    ['another case of the member', '{"targets":["t1"],"Targets":["t3"]}', ''],
    ['the member with a long s', '{"targets":["t1"],"target\u017F":["t3"]}', ''],
    ['a query parameter named like it', '{"targets":["t1"]}', '?targets[0]=t3'],
    // Rails wraps the body in a member named after the controller unless the query already has one.
    ['a query parameter that wraps it', '{"targets":["t1"]}', '?transfer[targets][]=t3'],
    ['a missing member', '{"source":"t1"}', ''],
    ['a member that is not text', '{"targets":[{"id":"t1"}]}', ''],
    ['a member that is true', '{"targets":true}', ''],
  ])('rejects a body binding with %s', async (_case, body, query) => {
    expect((await transfer('/v4', body, 'application/json', query)).status).toBe(404);
    expect(received).toHaveLength(0);
  });

  it('rejects a checked body with a content coding', async () => {
    const post = (mountPath: string, coding: string, body: Buffer) =>
      fetch(`${server.url}${mountPath}/transfers`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tenantToken}`, 'content-type': 'application/json', 'content-encoding': coding },
        body,
      });
    const json = '{"source":{"account":"t1"},"amount":5}';

    for (const [mountPath, coding] of [['/v2', 'gzip'], ['/v2', 'br'], ['/v4', 'deflate']] as const) {
      const response = await post(mountPath, coding, mountPath === '/v2' ? gzipSync(json) : deflateSync('{"targets":["t3"]}'));
      expect(response.status, `${mountPath} ${coding}`).toBe(415);
      const problem = (await response.json()) as Problem;
      expect(problem.code).toBe('unsupported_media_type');
      expect(problem.detail).toBe('The request body has a Content-Encoding, which the gateway cannot check. Send the body without a content coding.');
    }
    expect(received).toHaveLength(0);

    expect((await post('/v2', 'identity', Buffer.from(json))).status).toBe(200);
  });

  it('requires every element of a bound array to match', async () => {
    expect((await transfer('/v4', '{"targets":["t1","t2"]}')).status).toBe(200);
    expect((await transfer('/v4', '{"targets":["t1","t3"]}')).status).toBe(404);
    expect((await transfer('/v4', '{"targets":[]}')).status).toBe(404);
    expect(received).toHaveLength(1);
  });

  it('rejects a bound body that is not JSON', async () => {
    const form = await transfer('/v4', 'targets=t1', 'application/x-www-form-urlencoded');
    expect(form.status).toBe(415);
    expect(((await form.json()) as Problem).detail).toBe('The request body must be JSON, because the operation checks a member of it against the caller.');

    const malformed = await transfer('/v4', '{"targets":["t1"]');
    expect(malformed.status).toBe(400);
    const malformedProblem = (await malformed.json()) as Problem;
    expect(malformedProblem.code).toBe('invalid_json');
    expect(malformedProblem.detail).toBe('The request body is not valid JSON.');

    const repeated = await transfer('/v4', '{"targets":["t1"],"targets":["t3"]}');
    expect(repeated.status).toBe(400);
    expect(((await repeated.json()) as Problem).detail).toBe("The request body is not valid JSON: the member name 'targets' appears twice in one object.");
    expect(received).toHaveLength(0);
  });

  it('rejects malformed escapes in a checked query', async () => {
    // The gateway's query parser keeps a name or value with a bad escape
    // undecoded, while Python's and Node's parsers decode the escapes around
    // it. The pattern would see '%3Cb%3E%zz' and the upstream '<b>%zz'. The
    // binding would see 'tenant%49d[%zz]', which PHP reads as tenantId.
    const paths = [
      '/v2/items?q=%3Cb%3E%zz',
      '/v2/items?q=%3Cb%3E%C0',
      '/v2/items?q=%3Cb%3E%',
      '/v2/items?q=%3Cb%3E%2',
      '/v2/tenant-items?tenantId=t1&tenant%49d[%zz]=t3',
      '/v4/tenant-items?tenantId=t1&tenant%49d[%zz]=t3',
      '/v4/tenant-items?tenantId=t1&tenant%49d[%ED%A0%80]=t3',
    ];
    for (const path of paths) {
      const response = await call(path, tenantToken);
      expect(response.status, path).toBe(400);

      const problem = (await response.json()) as Problem;
      expect(problem.code, path).toBe('invalid_request');
      expect(problem.detail, path).toBe(
        "The query string has a '%' that does not start a valid escape, or escapes that are not UTF-8. Send '%' as %25 and other text as UTF-8 escapes.",
      );
    }
    expect(received).toHaveLength(0);

    expect((await call('/v2/items?q=%3Cb%3E', tenantToken)).status).toBe(400);
    expect((await call('/v2/items?q=a%20b+%E2%82%AC%25', tenantToken)).status).toBe(200);
    expect((await call('/v4/tenant-items?tenantId=t1&note=%E2%82%AC%25', tenantToken)).status).toBe(200);
    expect(received.map((request) => request.path)).toEqual(['/items?q=a%20b+%E2%82%AC%25', '/tenant-items?tenantId=t1&note=%E2%82%AC%25']);
  });

  it('rejects a bound name in the body', async () => {
    // Laravel's $request->userId and ASP.NET Core's form value provider
    // read a body field before the route parameter of the same name.
    const patch = (contentType: string, body: string) =>
      fetch(`${server.url}/v4/users/${subject}/profile`, { method: 'PATCH', headers: { authorization: `Bearer ${token}`, 'content-type': contentType }, body });
    const bodies = [
      ['application/x-www-form-urlencoded', 'displayName=x&userId=someone-else'],
      ['application/x-www-form-urlencoded', 'displayName=x&user%49d=someone-else'],
      ['application/json', '{"displayName":"x","userId":"someone-else"}'],
      ['application/json', '{"displayName":"x","UserId":"someone-else"}'],
      ['multipart/form-data; boundary=b', '--b\r\nContent-Disposition: form-data; name="userId"\r\n\r\nsomeone-else\r\n--b--\r\n'],
    ];
    for (const [contentType, body] of bodies) {
      const response = await patch(contentType as string, body as string);
      expect(response.status, body).toBe(404);
      expect(((await response.json()) as Problem).detail, body).toBe('No resource matches the path parameter.');
    }
    expect(received).toHaveLength(0);

    expect((await patch('application/json', '{"displayName":"x"}')).status).toBe(200);
    expect(received.map((request) => request.path)).toEqual([`/users/${subject}/profile`]);
  });

  it('rejects a form in another charset', async () => {
    // ASP.NET Core decodes a form in the charset that its Content-Type names.
    const patch = (contentType: string, body: Buffer) =>
      fetch(`${server.url}/v4/users/${subject}/profile`, { method: 'PATCH', headers: { authorization: `Bearer ${token}`, 'content-type': contentType }, body });
    const utf16 = Buffer.from('displayName=x&userId=someone-else', 'utf16le');
    for (const contentType of ['application/x-www-form-urlencoded; charset=utf-16le', 'application/json; charset=utf-16', "text/plain; x=/json; charset*=utf-8''utf-16le"]) {
      const response = await patch(contentType, utf16);
      expect(response.status, contentType).toBe(415);
      const problem = (await response.json()) as Problem;
      expect(problem.code, contentType).toBe('unsupported_media_type');
      expect(problem.detail, contentType).toMatch(/^The charset of the request body must be utf-8, not 'utf-/);
    }
    expect(received).toHaveLength(0);

    expect((await patch('application/x-www-form-urlencoded; charset=UTF-8', Buffer.from('displayName=x'))).status).toBe(200);
    expect((await patch('text/plain; charset=utf-16le', utf16)).status).toBe(200);
    expect(received).toHaveLength(2);
  });

  it('binds only integers written as integers', async () => {
    const numeric = await withClaims(token, { tenants: ['42'] });
    const post = (body: string) =>
      fetch(`${server.url}/v4/transfers`, { method: 'POST', headers: { authorization: `Bearer ${numeric}`, 'content-type': 'application/json' }, body });
    expect((await post('{"targets":[42]}')).status).toBe(200);

    // JSON.parse reads each of these as 42, but Jackson reads the first
    // into a BigInteger as 41, so a binding takes only integer literals.
    for (const literal of ['41.99999999999999999', '42.0', '4.2e1', '42.000000000000001']) {
      expect((await post(`{"targets":[${literal}]}`)).status, literal).toBe(404);
    }
    expect(received).toHaveLength(1);
  });

  it('rejects a bound body in another charset', async () => {
    // In UTF-7, `+AHQ-` is a `t`, so an upstream that honours the charset
    // (Django REST framework) reads `targets` twice and keeps t3.
    const utf7 = await transfer('/v4', '{"targets":["t1"],"+AHQ-argets":["t3"]}', 'application/json; charset=utf-7');
    expect(utf7.status).toBe(415);
    expect(((await utf7.json()) as Problem).detail).toBe("The charset of a JSON body must be utf-8, not 'utf-7'.");

    // Django reads `charset*` (RFC 2231) as the charset.
    expect((await transfer('/v4', '{"targets":["t1"],"+AHQ-argets":["t3"]}', "application/json; charset*=utf-8''utf-7")).status).toBe(415);
    expect((await transfer('/v4', '{"targets":["t1"],"+AHQ-argets":["t3"]}', 'application/json; CHARSET*=utf-7')).status).toBe(415);

    expect((await transfer('/v4', '{"targets":["t1"]}', 'application/json; charset="UTF-8"')).status).toBe(200);
    expect(received).toHaveLength(1);
  });

  it('rejects a token without the bound claim', async () => {
    const response = await call('/v2/tenant-items?tenantId=t1', token);
    expect(response.status).toBe(404);
    expect(((await response.json()) as Problem).detail).toBe('No resource matches the query parameter.');
    expect(received).toHaveLength(0);
  });
});
