import { createServer, type OutgoingHttpHeaders } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { writeConfigFile } from '../support/config-file.js';
import { callApi, obtainTokens } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

describe('gateway relaying 304', () => {
  let server: TestServer;
  let token: string;
  let notModifiedHeaders: OutgoingHttpHeaders = {};
  const upstream = createServer((request, response) => {
    request.resume();
    response.writeHead(304, notModifiedHeaders).end();
  });

  beforeAll(async () => {
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const routes = [{ method: 'GET', path: '/files/:name', scopes: [], roles: [], credentials: ['jwt'] }];
    const config = await writeConfigFile({ gateway: { upstreamUrl: url, routes }, rateLimit: { flows: [] } });
    server = await startTestServer({ config });
    token = (await obtainTokens(server, await createUser(server, 'not_modified_user'))).tokens.access_token;
  });

  afterAll(async () => {
    upstream.closeAllConnections();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
    await server.close();
  });

  it('relays 304 without Content-Length', async () => {
    notModifiedHeaders = { etag: '"v1"' };
    const response = await callApi(server, '/files/a', token, { headers: { 'if-none-match': '"v1"' } });
    expect(response.status).toBe(304);
    expect(response.headers.get('etag')).toBe('"v1"');
  });

  it('relays 304 with the 200 Content-Length', async () => {
    notModifiedHeaders = { etag: '"v1"', 'content-length': '5' };
    const response = await callApi(server, '/files/a', token, { headers: { 'if-none-match': '"v1"' } });
    expect(response.status).toBe(304);
    expect(response.headers.get('etag')).toBe('"v1"');
  });

  it('relays 304 to HEAD with the 200 Content-Length', async () => {
    notModifiedHeaders = { etag: '"v1"', 'content-length': '5' };
    const response = await callApi(server, '/files/a', token, { method: 'HEAD', headers: { 'if-none-match': '"v1"' } });
    expect(response.status).toBe(304);
    // Not the 0 that an empty HEAD response would announce.
    expect(response.headers.get('content-length')).toBe('5');
  });
});

describe('gateway relaying 304 for a document', () => {
  const fixture = fileURLToPath(new URL('../fixtures/not-modified.yaml', import.meta.url));
  let server: TestServer;
  let token: string;
  const upstream = createServer((request, response) => {
    request.resume();
    // The b file has a property that the document does not declare, and its ETag is the hash of the whole body.
    const etag = request.url === '/files/b' ? '"hash-of-secret-7"' : '"v1"';
    if (request.headers['if-none-match'] === etag) {
      response.writeHead(304, { etag, 'content-length': '15' }).end();
      return;
    }
    if (request.url === '/notes/a') {
      response.writeHead(200, { etag: '"note,1"', 'content-type': 'text/plain' }).end('a note');
      return;
    }
    const body = request.url === '/files/b' ? '{"name":"b","secret":7}' : '{"name":"a"}';
    response.writeHead(200, { etag, 'content-type': 'application/json' }).end(body);
  });

  beforeAll(async () => {
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const config = await writeConfigFile({ gateway: { upstreamUrl: url, openapi: fixture }, rateLimit: { flows: [] } });
    server = await startTestServer({ config });
    token = (await obtainTokens(server, await createUser(server, 'conditional_user'))).tokens.access_token;
  });

  afterAll(async () => {
    upstream.closeAllConnections();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
    await server.close();
  });

  it('relays 304 to a conditional read', async () => {
    const first = await callApi(server, '/files/a', token);
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ name: 'a' });

    const again = await callApi(server, '/files/a', token, { headers: { 'if-none-match': '"v1"' } });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe('"v1"');
    expect(await again.text()).toBe('');
  });

  it('answers If-None-Match with the relayed ETag', async () => {
    const matching = await callApi(server, '/files/a', token, { headers: { 'if-none-match': '"v0", W/"v1"' } });
    expect(matching.status).toBe(304);
    expect(await matching.text()).toBe('');

    const other = await callApi(server, '/files/a', token, { headers: { 'if-none-match': '"v0"' } });
    expect(other.status).toBe(200);
    expect(await other.json()).toEqual({ name: 'a' });
  });

  it('confirms no guess of a removed property', async () => {
    const first = await callApi(server, '/files/b', token);
    expect(first.status).toBe(200);
    expect(first.headers.get('etag')).toBeNull();

    // The ETag of the unchecked body, which a caller can compute for a guessed value.
    const guess = await callApi(server, '/files/b', token, { headers: { 'if-none-match': '"hash-of-secret-7"' } });
    expect(guess.status).toBe(200);
    expect(await guess.json()).toEqual({ name: 'b' });
  });

  it('answers If-None-Match of HEAD', async () => {
    const unchecked = await callApi(server, '/notes/a', token, { method: 'HEAD', headers: { 'if-none-match': '"note,1"' } });
    expect(unchecked.status).toBe(304);
    expect(unchecked.headers.get('etag')).toBe('"note,1"');

    const checked = await callApi(server, '/files/a', token, { method: 'HEAD', headers: { 'if-none-match': '*' } });
    expect(checked.status).toBe(304);
  });

  it('matches an ETag with a comma', async () => {
    const matching = await callApi(server, '/notes/a', token, { headers: { 'if-none-match': '"v0", W/"note,1"' } });
    expect(matching.status).toBe(304);

    const other = await callApi(server, '/notes/a', token, { headers: { 'if-none-match': '"note", "1"' } });
    expect(other.status).toBe(200);
    expect(await other.text()).toBe('a note');
  });
});
