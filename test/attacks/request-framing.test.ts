import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { writeConfigFile } from '../support/config-file.js';
import { lastJsonBody, sendRaw, statusCodes } from '../support/raw-socket.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../support/scripted-upstream.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Request bodies whose framing a proxy in front of the gateway may read
 * otherwise than the gateway does. An HTTP/1.0 proxy does not understand
 * Transfer-Encoding (RFC 9112 section 6.1), so a request hidden in the
 * chunked body looks like the body to it and like the next request to the
 * gateway. The gateway must never serve such a hidden request.
 */

const DOCUMENT = {
  openapi: '3.1.0',
  info: { title: 'Fixture', version: '1' },
  paths: {
    '/items': {
      get: { operationId: 'listItems', responses: { '200': { description: 'Items.' } } },
      post: {
        operationId: 'createItem',
        requestBody: { content: { 'application/json': { schema: { type: 'object' } } } },
        responses: { '200': { description: 'Created.' } },
      },
    },
  },
};

const HIDDEN = 'GET /v1/items HTTP/1.0\r\nX-Hidden: 1\r\n\r\n';

describe('request transfer codings', () => {
  let upstream: ScriptedUpstream;
  let server: TestServer;
  let port: number;
  let forwarded: number;

  beforeAll(async () => {
    upstream = await startScriptedUpstream();
    upstream.respond((_request, response) => {
      forwarded += 1;
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    const document = await writeConfigFile(DOCUMENT);
    const config = await writeConfigFile({
      gateway: {
        upstreams: [
          { name: 'fixture', url: upstream.url, mountPath: '/v1', openapi: document, operations: { listItems: { public: true }, createItem: { public: true } } },
        ],
      },
    });
    server = await startTestServer({ config, issuer: 'https://gw.example.test' });
    port = Number(new URL(server.url).port);
  });

  afterAll(async () => {
    await server.close();
    await upstream.close();
  });

  beforeEach(() => {
    forwarded = 0;
  });

  it('rejects chunked HTTP/1.0 requests', async () => {
    const post = 'POST /v1/items HTTP/1.0\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n';
    const get = 'GET /v1/items HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n';

    for (const request of [post, get]) {
      const { received, closed } = await sendRaw(port, `${request}${HIDDEN}`);

      expect(statusCodes(received)).toEqual([400]);
      expect(received).toContain('application/problem+json');
      expect(lastJsonBody(received).code).toBe('invalid_request');
      expect(lastJsonBody(received).detail).toContain('Transfer-Encoding');
      expect(closed).toBe(true);
    }
    expect(forwarded).toBe(0);
  });

  it('rejects codings other than chunked', async () => {
    const request = 'POST /v1/items HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n';
    const { received, closed } = await sendRaw(port, `${request}${HIDDEN}`);

    expect(statusCodes(received)).toEqual([400]);
    expect(lastJsonBody(received).code).toBe('invalid_request');
    expect(lastJsonBody(received).detail).toContain('gzip, chunked');
    expect(closed).toBe(true);
    expect(forwarded).toBe(0);
  });

  // Another check may reject the request first, but the connection must
  // still close, or the bytes after the body would be read as a request.
  // Fastify rejects a malformed request target before any hook runs.
  it('closes on codings behind other faults', async () => {
    const twoHosts = 'POST /v1/items HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n';
    const asterisk = 'OPTIONS * HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n';
    const malformedTarget = 'POST /v1/%zz HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n';
    const malformedTarget10 = 'POST /v1/%zz HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n';

    for (const request of [twoHosts, asterisk, malformedTarget, malformedTarget10]) {
      const { received, closed } = await sendRaw(port, `${request}${HIDDEN}`);

      expect(statusCodes(received)).toEqual([400]);
      expect(lastJsonBody(received).code).toBe('invalid_request');
      expect(closed).toBe(true);
    }
    expect(forwarded).toBe(0);
  });

  // Node.js 20 ignores the bytes after a request with Upgrade, so a request
  // pipelined after it would wait for a response that never comes.
  it('closes on Upgrade with a malformed target', async () => {
    const upgrade = 'GET /v1/%zz HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n';
    const { received, closed } = await sendRaw(port, `${upgrade}GET /v1/items HTTP/1.1\r\nHost: a\r\n\r\n`);

    expect(statusCodes(received)).toEqual([400]);
    expect(lastJsonBody(received).code).toBe('invalid_request');
    expect(closed).toBe(true);
  });

  it('forwards chunked HTTP/1.1 bodies', async () => {
    const request = 'POST /v1/items HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n';
    const { received } = await sendRaw(port, request);

    expect(statusCodes(received)).toEqual([200]);
    expect(forwarded).toBe(1);
    expect(upstream.lastRequestHeaders?.['content-length']).toBe('2');
    expect(upstream.lastRequestHeaders?.['transfer-encoding']).toBeUndefined();
  });
});
