import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { writeConfigFile } from '../support/config-file.js';
import { obtainTokens } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** A document whose upload operation takes multipart bodies unchecked, as file uploads usually are. */
const DOCUMENT = {
  openapi: '3.1.0',
  info: { title: 'Uploads', version: '1' },
  components: { securitySchemes: { oauth: { type: 'http', scheme: 'bearer' } } },
  security: [{ oauth: ['orders:read'] }],
  paths: {
    '/uploads': {
      post: { operationId: 'upload', requestBody: { required: true, content: { 'multipart/form-data': {} } }, responses: { '201': { description: 'Stored.' } } },
    },
  },
};

const BOUNDARY = 'x-boundary';

function multipart(fields: Record<string, string>, nameOf: (name: string) => string = (name) => `"${name}"`): string {
  const parts = Object.entries(fields).map(([name, value]) => `--${BOUNDARY}\r\nContent-Disposition: form-data; name=${nameOf(name)}\r\n\r\n${value}\r\n`);
  return `${parts.join('')}--${BOUNDARY}--\r\n`;
}

interface Problem {
  code: string;
  detail: string;
}

describe('method overrides in the request', () => {
  let upstream: Server;
  let received: Array<{ method: string; url: string }>;
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    received = [];
    upstream = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        received.push({ method: request.method ?? '', url: request.url ?? '' });
        response.writeHead(201).end();
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

    const config = await writeConfigFile({
      gateway: {
        upstreams: [
          { name: 'documented', url, mountPath: '/v1', openapi: await writeConfigFile(DOCUMENT) },
          // Without a document the gateway checks neither the query nor the body.
          { name: 'routed', url, mountPath: '/v2', routes: [{ method: 'POST', path: '/things', scopes: ['orders:read'], roles: [], credentials: ['jwt'] }] },
        ],
      },
      rateLimit: { flows: [] },
    });
    server = await startTestServer({ config });
    token = (await obtainTokens(server, await createUser(server, 'override_user'))).tokens.access_token;
  });

  afterAll(async () => {
    await server.close();
    await new Promise((resolve) => upstream.close(resolve));
  });

  beforeEach(() => {
    received.length = 0;
  });

  function post(path: string, contentType: string, body: string): Promise<Response> {
    return fetch(`${server.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': contentType }, body });
  }

  async function expectRejected(response: Response, label: string): Promise<void> {
    expect(response.status, label).toBe(400);
    const problem = (await response.json()) as Problem;
    expect(problem.code, label).toBe('invalid_request');
    expect(problem.detail, label).toContain("'_method' field");
  }

  it('forwards bodies without an override', async () => {
    expect((await post('/v1/uploads', `multipart/form-data; boundary=${BOUNDARY}`, multipart({ title: 'a _method b' }))).status).toBe(201);
    expect((await post('/v2/things?note=_method', 'application/x-www-form-urlencoded', 'note=_method')).status).toBe(201);
    expect((await post('/v2/things', 'application/json', '{"note":"_method"}')).status).toBe(201);
    expect(received).toEqual([
      { method: 'POST', url: '/uploads' },
      { method: 'POST', url: '/things?note=_method' },
      { method: 'POST', url: '/things' },
    ]);
  });

  it('rejects an override in a multipart body', async () => {
    const type = `multipart/form-data; boundary=${BOUNDARY}`;
    await expectRejected(await post('/v1/uploads', type, multipart({ _method: 'DELETE' })), 'quoted');
    await expectRejected(await post('/v1/uploads', type, multipart({ title: 'a', _method: 'DELETE' }, (name) => name)), 'unquoted');
    expect(received).toHaveLength(0);
  });

  it('rejects an override in a form body', async () => {
    for (const body of ['_method=DELETE', 'note=a&%5Fmethod=DELETE', 'note=a&_%6Dethod=PUT']) {
      await expectRejected(await post('/v2/things', 'application/x-www-form-urlencoded', body), body);
    }
    expect(received).toHaveLength(0);
  });

  it('rejects an override in a JSON body', async () => {
    for (const body of ['{"_method":"DELETE"}', '{"\\u005fmethod":"DELETE"}', '\ufeff{"_method":"PATCH"}']) {
      await expectRejected(await post('/v2/things', 'application/json', body), body);
    }
    expect(received).toHaveLength(0);
  });

  it('rejects an override in a body Laravel reads as JSON', async () => {
    // Laravel's Request::isJson looks for '/json' anywhere in the header.
    for (const type of ['text/plain; x=/json', 'application/octet-stream; profile="a+json"', 'application/x-www-form-urlencoded; x=/json']) {
      await expectRejected(await post('/v2/things', type, '{"_method":"DELETE"}'), type);
    }
    expect(received).toHaveLength(0);
  });

  it('rejects an override in PHP spellings', async () => {
    // PHP stores the fields '.method', ' _method' and '[method' as '_method',
    // where Laravel and Symfony read the override.
    const type = `multipart/form-data; boundary=${BOUNDARY}`;
    for (const name of ['.method', ' _method', '[method']) {
      await expectRejected(await post('/v1/uploads', type, multipart({ [name]: 'DELETE' })), `multipart ${name}`);
      await expectRejected(await post('/v2/things', 'application/x-www-form-urlencoded', `${encodeURIComponent(name)}=DELETE`), `form ${name}`);
      await expectRejected(await post(`/v2/things?${encodeURIComponent(name)}=DELETE`, 'application/json', '{}'), `query ${name}`);
    }
    expect(received).toHaveLength(0);
  });

  it('rejects an override in the query string', async () => {
    for (const query of ['_method=DELETE', '%5Fmethod=DELETE']) {
      await expectRejected(await post(`/v2/things?${query}`, 'application/json', '{}'), query);
    }
    expect(received).toHaveLength(0);
  });
});
