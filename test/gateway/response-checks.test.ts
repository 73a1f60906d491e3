import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { writeConfigFile } from '../support/config-file.js';
import { callApi, obtainTokens } from '../support/oauth.js';
import { json, startScriptedUpstream, type ScriptedUpstream } from '../support/scripted-upstream.js';
import { startTestServer, type TestServer } from '../support/server.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/response-checks.yaml', import.meta.url));
const TIMEOUT_MS = 1000;
const LIMIT_BYTES = 4096;

interface Problem {
  type: string;
  title: string;
  status: number;
  code?: string;
  detail?: string;
  request_id?: string;
}

const WIDGET = { id: 'w1', name: 'lamp', secret: 'sealed-value', parts: [{ label: 'shade' }], labels: { color: 'red' } };

describe('gateway response checks', () => {
  let upstream: ScriptedUpstream;
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    upstream = await startScriptedUpstream();
    const config = await writeConfigFile({
      gateway: { upstreamUrl: upstream.url, openapi: FIXTURE, upstreamTimeoutMs: TIMEOUT_MS, responseLimitBytes: LIMIT_BYTES },
      // The default order-creation quota names an operation the fixture does not declare.
      rateLimit: { flows: [] },
    });
    server = await startTestServer({ config });
    token = (await obtainTokens(server, await createUser(server, 'response_user'))).tokens.access_token;
  });

  afterAll(async () => {
    await server.close();
    await upstream.close();
  });

  async function getWidget(): Promise<{ status: number; headers: Headers; text: string }> {
    const response = await callApi(server, '/widgets/w1', token);
    return { status: response.status, headers: response.headers, text: await response.text() };
  }

  async function expectBadGateway(detail: string): Promise<Problem> {
    const { status, headers, text } = await getWidget();
    expect(status).toBe(502);
    expect(headers.get('etag')).toBeNull();
    expect(headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    const problem = JSON.parse(text) as Problem;
    expect(problem.code).toBe('bad_gateway');
    expect(problem.detail).toBe(detail);
    expect(problem.request_id).toBe(headers.get('x-request-id'));
    return problem;
  }

  function lastRejection(): Record<string, unknown> | undefined {
    return server.logs
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((entry) => entry['msg'] === 'upstream response rejected')
      .at(-1);
  }

  it('relays a valid body', async () => {
    const { id, name, parts, labels } = WIDGET;
    const body = JSON.stringify({ id, name, parts, labels });
    upstream.respond((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'x-request-id': 'upstream-7', etag: '"v1"' }).end(body);
    });
    const { status, headers, text } = await getWidget();
    expect(status).toBe(200);
    expect(JSON.parse(text)).toEqual({ id, name, parts, labels });
    expect(headers.get('etag')).toBe('"v1"');
    expect(headers.get('x-request-id')).not.toBe('upstream-7');
  });

  it('removes undeclared properties at every depth', async () => {
    upstream.respond(
      json({ ...WIDGET, passwordHash: 'scrypt$abc', parts: [{ label: 'shade', cost: 3 }, { label: 'bulb', supplier: { id: 9 } }], debug: { sql: 'select' } }),
    );
    const { status, headers, text } = await getWidget();
    expect(status).toBe(200);
    expect(JSON.parse(text)).toEqual({ id: 'w1', name: 'lamp', parts: [{ label: 'shade' }, { label: 'bulb' }], labels: { color: 'red' } });
    expect(headers.get('content-length')).toBe(String(Buffer.byteLength(text)));
  });

  it('drops validators of the unchecked body', async () => {
    const digests = { 'content-digest': 'sha-256=:AAAA:', 'repr-digest': 'sha-256=:AAAA:', digest: 'SHA-256=AAAA', 'content-md5': 'AAAA==' };
    const sendWidget = (body: unknown) => {
      const text = JSON.stringify(body);
      upstream.respond((_request, response) => {
        response.writeHead(200, { 'content-type': 'application/json', etag: `W/"${Buffer.byteLength(text).toString(16)}-hash"`, ...digests }).end(text);
      });
    };

    sendWidget({ id: 'w1', name: 'lamp', role: 'admin' });
    const filtered = await getWidget();
    expect(JSON.parse(filtered.text)).toEqual({ id: 'w1', name: 'lamp' });
    expect(filtered.headers.get('etag')).toBeNull();
    for (const name of Object.keys(digests)) {
      expect(filtered.headers.get(name), name).toBeNull();
    }

    sendWidget({ id: 'w1', name: 'lamp' });
    const unchanged = await getWidget();
    expect(unchanged.headers.get('etag')).toBe('W/"19-hash"');
    for (const name of Object.keys(digests)) {
      expect(unchanged.headers.get(name), name).toBeNull();
    }
  });

  it('removes writeOnly properties', async () => {
    upstream.respond(json(WIDGET));
    const { text } = await getWidget();
    expect(text).not.toContain('secret');
    expect(text).not.toContain('sealed-value');
  });

  it('keeps properties that additionalProperties allows', async () => {
    upstream.respond(json({ id: 'w1', name: 'lamp', labels: { color: 'red', size: 'large' } }));
    const { text } = await getWidget();
    expect(JSON.parse(text)).toEqual({ id: 'w1', name: 'lamp', labels: { color: 'red', size: 'large' } });
  });

  it('rejects a body that breaks the schema', async () => {
    upstream.respond(json({ id: 5, name: 'lamp', internal: 'db-host-7' }));
    const problem = await expectBadGateway('The upstream response does not match the schema the API declares.');
    expect(JSON.stringify(problem)).not.toContain('db-host-7');
    expect(lastRejection()?.['reason']).toBe('response body violates the declared schema');
    expect(lastRejection()?.['errors']).toEqual([{ pointer: '/body/id', detail: 'must be string' }]);
  });

  it('keeps Vary: Origin on a rejected body', async () => {
    upstream.respond((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json', vary: 'Accept-Language' }).end('{"id":5}');
    });
    const { status, headers } = await getWidget();
    const vary = (headers.get('vary') ?? '').split(',').map((name) => name.trim().toLowerCase());

    expect(status).toBe(502);
    expect(vary).toContain('origin');
  });

  it('rejects a body that is not JSON', async () => {
    upstream.respond(json('{"id":"w1",'));
    await expectBadGateway('The upstream response body is not valid JSON.');
  });

  it('reads a body in its declared charset', async () => {
    const body = Buffer.from('{"id":"w1","name":"caf\u00e9","secret":"s"}', 'latin1');
    upstream.respond((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json; charset=ISO-8859-1' }).end(body);
    });
    const { status, headers, text } = await getWidget();

    expect(status).toBe(200);
    expect(headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(JSON.parse(text)).toEqual({ id: 'w1', name: 'caf\u00e9' });
  });

  // A client that honours Shift_JIS reads the last UTF-8 byte of 'ぁ' and
  // the backslash after it as one character, so the escaped quote ends the string.
  it('labels the serialized body UTF-8', async () => {
    upstream.respond(json('{"id":"w1","name":"\\u3041\\"","secret":"s"}', 200, 'application/json; charset=shift_jis'));
    const { status, headers, text } = await getWidget();

    expect(status).toBe(200);
    expect(headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(JSON.parse(text)).toEqual({ id: 'w1', name: '\u3041"' });
  });

  it('labels a HEAD response UTF-8', async () => {
    upstream.respond(json(WIDGET, 200, 'application/json; charset=ISO-8859-1'));
    const response = await callApi(server, '/widgets/w1', token, { method: 'HEAD' });

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
  });

  it('rejects bytes invalid in the charset', async () => {
    upstream.respond((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' }).end(Buffer.from('{"id":"w1","name":"caf\u00e9","secret":"s"}', 'latin1'));
    });
    await expectBadGateway('The upstream response body is not valid in its charset.');
  });

  it('rejects an unknown or repeated charset', async () => {
    upstream.respond(json(WIDGET, 200, 'application/json; charset=utf-7'));
    await expectBadGateway('The upstream response has a charset that the gateway cannot read.');

    upstream.respond(json(WIDGET, 200, 'application/json; charset=utf-8; charset=shift_jis'));
    await expectBadGateway('The upstream response names more than one charset.');
  });

  it('relays numbers a double holds', async () => {
    upstream.respond(json('{"id":"w1","name":"lamp","serial":9007199254740991,"weight":1.50E2}'));
    const { status, text } = await getWidget();

    expect(status).toBe(200);
    expect(text).toBe('{"id":"w1","name":"lamp","serial":9007199254740991,"weight":150}');
  });

  it.each(['"serial":12345678901234567891', '"weight":0.1000000000000000055511151231257827', '"weight":1e400'])(
    'rejects a number a double changes: %s',
    async (member) => {
      upstream.respond(json(`{"id":"w1","name":"lamp",${member}}`));
      await expectBadGateway('The upstream response has a number that the gateway cannot relay without changing its value.');
    },
  );

  it('rejects prototype keys', async () => {
    upstream.respond(json('{"id":"w1","name":"lamp","__proto__":{"isAdmin":true}}'));
    await expectBadGateway('The upstream response body is not valid JSON.');
    expect(lastRejection()?.['reason']).toBe('response body contains a forbidden key');
  });

  it('rejects an announced oversized body', async () => {
    upstream.respond(json({ id: 'w1', name: 'x'.repeat(LIMIT_BYTES) }));
    await expectBadGateway('The upstream response is larger than the gateway accepts.');
  });

  it('rejects an oversized chunked body', async () => {
    upstream.respond((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"id":"w1","name":"');
      for (let index = 0; index < 10; index += 1) {
        response.write('x'.repeat(1024));
      }
      response.end('"}');
    });
    await expectBadGateway('The upstream response is larger than the gateway accepts.');
  });

  it('rejects a compressed body', async () => {
    upstream.respond((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end('\u001f\u008b');
    });
    await expectBadGateway('The upstream response is compressed, so the gateway cannot check it.');
    expect(upstream.lastRequestHeaders?.['accept-encoding']).toBe('identity');
  });

  it('asks for the whole checked body', async () => {
    upstream.respond(json(WIDGET));
    const headers = { range: 'bytes=10-40', 'if-range': '"v1"', 'a-im': 'vcdiff', if_range: '"v1"' };
    const response = await callApi(server, '/widgets/w1', token, { headers });

    expect(response.status).toBe(200);
    expect(upstream.lastRequestHeaders?.['range']).toBeUndefined();
    expect(upstream.lastRequestHeaders?.['if-range']).toBeUndefined();
    expect(upstream.lastRequestHeaders?.['a-im']).toBeUndefined();
    expect(upstream.lastRequestHeaders?.['if_range']).toBeUndefined();
  });

  it('forwards Range with a declared 206', async () => {
    upstream.respond(json('a,', 206, 'text/csv'));
    const response = await callApi(server, '/reports/r1', token, { headers: { range: 'bytes=0-1', 'if-range': '"r1"' } });

    expect(response.status).toBe(206);
    expect(await response.text()).toBe('a,');
    expect(upstream.lastRequestHeaders?.['range']).toBe('bytes=0-1');
    expect(upstream.lastRequestHeaders?.['if-range']).toBe('"r1"');
  });

  it('rejects a coding in a second field line', async () => {
    upstream.respond((_request, response) => {
      response.writeHead(200, [
        ['content-type', 'application/json'],
        ['content-encoding', 'identity'],
        ['content-encoding', 'gzip'],
      ]).end(JSON.stringify(WIDGET));
    });
    await expectBadGateway('The upstream response is compressed, so the gateway cannot check it.');
  });

  it('rejects an undeclared success status', async () => {
    upstream.respond(json(WIDGET, 201));
    await expectBadGateway('The upstream responded with status 201, which the API does not declare for this operation.');
  });

  it('rejects two content types', async () => {
    upstream.respond((_request, response) => {
      response.setHeader('content-type', ['application/json', 'text/csv']);
      response.end(JSON.stringify(WIDGET));
    });
    const problem = await expectBadGateway('The upstream response has more than one Content-Type.');
    expect(JSON.stringify(problem)).not.toContain('csv');
  });

  it('rejects an undeclared content type', async () => {
    upstream.respond(json('<html>lamp</html>', 200, 'text/html'));
    const problem = await expectBadGateway('The upstream response has a Content-Type that the API does not declare for its status.');
    expect(JSON.stringify(problem)).not.toContain('html');
  });

  it('hides an upstream server error', async () => {
    upstream.respond(json('Error: boom\n    at handler (/srv/app/widgets.js:10:5)', 500, 'text/plain'));
    const problem = await expectBadGateway('The upstream service failed with status 500.');
    expect(JSON.stringify(problem)).not.toContain('/srv/app');
  });

  it('relays an undeclared client error as a problem', async () => {
    upstream.respond(
      json({ type: 'urn:widgets:missing', title: 'Not found', status: 404, detail: 'No widget w1.', code: 'not_found', stack: 'at /srv/app' }, 404, 'application/problem+json'),
    );
    const response = await callApi(server, '/widgets/w1', token);
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(response.headers.get('etag')).toBeNull();
    expect(await response.json()).toEqual({
      type: 'urn:widgets:missing',
      title: 'Not found',
      status: 404,
      detail: 'No widget w1.',
      code: 'not_found',
      request_id: response.headers.get('x-request-id'),
    });
  });

  it('replaces a client error page', async () => {
    upstream.respond(json('<html><body>Apache Tomcat/9.0.1 - Error report</body></html>', 404, 'text/html'));
    const response = await callApi(server, '/widgets/w1', token);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ type: 'about:blank', title: 'Not Found', status: 404, request_id: response.headers.get('x-request-id') });
  });

  it('filters a declared client error', async () => {
    upstream.respond(json({ title: 'Conflict', status: 409, trace: 'widgets.js:10' }, 409, 'application/problem+json'));
    const response = await callApi(server, '/widgets/w1', token);
    expect(response.status).toBe(409);
    expect(await response.json()).toEqual({ title: 'Conflict', status: 409 });
  });

  it('relays the headers of a HEAD response', async () => {
    upstream.respond((request, response) => {
      const body = JSON.stringify({ id: 'w1', name: 'lamp', secret: 'x' });
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), etag: '"v1"' });
      response.end(request.method === 'HEAD' ? undefined : body);
    });
    const response = await callApi(server, '/widgets/w1', token, { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    // The check of a GET would remove `secret`, which both of these describe.
    expect(response.headers.get('etag')).toBeNull();
    expect(response.headers.get('content-length')).toBeNull();
  });

  it('relays a declared empty response', async () => {
    upstream.respond((_request, response) => {
      response.writeHead(204).end();
    });
    const { status, text } = await getWidget();
    expect(status).toBe(204);
    expect(text).toBe('');
  });

  it('sends no Content-Length with a 204 to HEAD', async () => {
    upstream.respond((_request, response) => {
      response.writeHead(204, { 'content-length': '5' }).end();
    });
    const response = await callApi(server, '/widgets/w1', token, { method: 'HEAD' });
    expect(response.status).toBe(204);
    expect(response.headers.get('content-length')).toBeNull();
  });

  it('streams declared content without a schema', async () => {
    upstream.respond(json('a,b\n1,2\n', 200, 'text/csv'));
    const response = await callApi(server, '/reports/r1', token);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('a,b\n1,2\n');
  });

  it('rejects non-JSON content of objects', async () => {
    upstream.respond((request, response) => {
      const xml = request.headers['accept'] === 'application/xml';
      const body = xml ? '<Widget><id>w1</id><name>lamp</name><secret>sealed-value</secret></Widget>' : JSON.stringify(WIDGET);
      response.writeHead(200, { 'content-type': xml ? 'application/xml' : 'application/json' }).end(body);
    });

    const filtered = await callApi(server, '/gadgets/g1', token);
    expect(filtered.status).toBe(200);
    expect(await filtered.json()).not.toHaveProperty('secret');

    const response = await callApi(server, '/gadgets/g1', token, { headers: { accept: 'application/xml' } });
    const text = await response.text();
    expect(response.status).toBe(502);
    expect(text).not.toContain('sealed-value');
    expect((JSON.parse(text) as Problem).detail).toBe(
      'The upstream response is not JSON, so the gateway cannot remove the properties that the schema the API declares leaves out.',
    );
    expect(lastRejection()?.['reason']).toBe('response body not JSON under a schema that describes objects');
  });

  it('streams non-JSON content of a string', async () => {
    upstream.respond(json('lamp', 203, 'text/plain'));
    const response = await callApi(server, '/gadgets/g1', token);
    expect(response.status).toBe(203);
    expect(await response.text()).toBe('lamp');
  });

  it('answers 502 for unchecked content that breaks first', async () => {
    upstream.respond((request, response) => {
      response.writeHead(200, { 'content-type': 'text/csv', 'content-length': '100', etag: '"r1"' }).flushHeaders();
      setTimeout(() => request.socket.destroy(), 50).unref();
    });
    const response = await callApi(server, '/reports/r1', token);
    expect(response.status).toBe(502);
    expect(response.headers.get('etag')).toBeNull();
    expect(await response.json()).toMatchObject({ code: 'bad_gateway', detail: 'The upstream connection failed while sending the response.' });
  });

  it('answers 504 for unchecked content that stalls first', async () => {
    upstream.respond((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/csv', 'content-length': '100' }).flushHeaders();
    });
    const response = await callApi(server, '/reports/r1', token);
    expect(response.status).toBe(504);
    expect(await response.json()).toMatchObject({ code: 'gateway_timeout', detail: 'The upstream service did not send its response in time.' });
  });

  it('answers 504 when the headers are late', async () => {
    upstream.respond((_request, response) => {
      setTimeout(() => json(WIDGET)(_request, response), TIMEOUT_MS * 3).unref();
    });
    const { status, text } = await getWidget();
    expect(status).toBe(504);
    expect(JSON.parse(text)).toMatchObject({ code: 'gateway_timeout', detail: 'The upstream service did not respond in time.' });
  });

  it('answers 504 when the body stalls', async () => {
    upstream.respond((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': 100 });
      response.write('{"id":"w1",');
    });
    const { status, text } = await getWidget();
    expect(status).toBe(504);
    expect(JSON.parse(text)).toMatchObject({ code: 'gateway_timeout', detail: 'The upstream service did not send its response in time.' });
  });

  // Runs last: it stops the upstream.
  it('answers 502 when the upstream refuses connections', async () => {
    await upstream.close();
    const { status, text } = await getWidget();
    expect(status).toBe(502);
    expect(JSON.parse(text)).toMatchObject({ code: 'bad_gateway', detail: 'The upstream service is unavailable.' });
  });
});
