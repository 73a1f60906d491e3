import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import type { Resolver } from '../../src/core/outbound/client.js';
import type { ConnectAttempt } from '../../src/core/outbound/pinned-agent.js';
import { ORDER_IMPORT_POLICY } from '../../src/demo/order-import.js';
import { createUser } from '../support/accounts.js';
import { callApi, obtainTokens } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { writeConfigFile } from '../support/config-file.js';
import { defaultRateLimits } from '../../src/config/load.js';

/**
 * Attacks on the outbound guard through `POST /api/orders/import`, the demo
 * endpoint that fetches a URL the caller names. The resolver is replaced, so
 * attacker host names answer with the addresses an attacker's DNS would, and
 * every connection attempt is recorded and stopped: nothing leaves loopback.
 */

/** Answers of the attacker's DNS; a list of answers is served one per query. */
const ATTACKER_DNS: Readonly<Record<string, readonly (readonly string[])[]>> = {
  // A public address first, then loopback, as a rebinding attacker's DNS answers.
  'rebind.attacker.example': [['93.184.215.14'], ['127.0.0.1']],
  'mixed.attacker.example': [['93.184.215.14', '127.0.0.1']],
  '127.0.0.1.nip.example': [['127.0.0.1']],
  'metadata.attacker.example': [['169.254.169.254']],
  'private.attacker.example': [['10.0.0.5']],
  'mapped.attacker.example': [['::ffff:127.0.0.1']],
  'nat64.attacker.example': [['64:ff9b::7f00:1']],
};

interface RecordingResolver {
  resolver: Resolver;
  queries: string[];
}

function attackerResolver(): RecordingResolver {
  const queries: string[] = [];
  const counts = new Map<string, number>();
  const resolver: Resolver = async (hostname) => {
    queries.push(hostname);
    const answers = ATTACKER_DNS[hostname];
    if (answers === undefined) {
      throw Object.assign(new Error(`no test DNS entry for ${hostname}`), { code: 'ENOTFOUND' });
    }
    const count = counts.get(hostname) ?? 0;
    counts.set(hostname, count + 1);
    return answers[Math.min(count, answers.length - 1)] ?? [];
  };
  return { resolver, queries };
}

/** Limits with room for many imports by one user, because each case here is one import. */
async function roomyImportQuota(): Promise<string> {
  const defaults = defaultRateLimits();
  return writeConfigFile({
    rateLimit: {
      flows: defaults.flows.map((flow) => ({ ...flow, limit: 10_000 })),
      signIn: { ...defaults.signIn, limit: 100_000, burst: 100_000 },
    },
  });
}

async function importFrom(server: TestServer, token: string, url: string): Promise<Response> {
  return callApi(server, '/orders/import', token, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ url }),
  });
}

describe('order import with the production outbound policy', () => {
  let server: TestServer;
  let token: string;
  const attempts: ConnectAttempt[] = [];
  const dns = attackerResolver();

  beforeAll(async () => {
    server = await startTestServer(
      { config: await roomyImportQuota() },
      {
        demoOrderImport: {
          policy: ORDER_IMPORT_POLICY,
          dependencies: {
            resolver: dns.resolver,
            beforeConnect: (attempt) => {
              attempts.push(attempt);
              throw new Error(`test stopped a connection to ${attempt.address}`);
            },
          },
        },
      },
    );
    const user = await createUser(server, 'ssrf_user');
    token = (await obtainTokens(server, user)).tokens.access_token;
  });

  afterAll(async () => {
    await server.close();
  });

  beforeEach(() => {
    attempts.length = 0;
  });

  async function expectRejectedTarget(url: string): Promise<void> {
    const response = await importFrom(server, token, url);
    const body = (await response.json()) as { code: string; detail: string };

    expect(response.status, url).toBe(422);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect(body.code, url).toBe('target_not_allowed');
    expect(body.detail).toContain('/body/url');
    expect(attempts, url).toEqual([]);
  }

  describe('odd IPv4 spellings of loopback, private and metadata addresses', () => {
    it.each([
      'https://127.1/',
      'https://0177.0.0.1/',
      'https://0x7f.0.0.1/',
      'https://2130706433/',
      'https://017700000001/',
      'https://012.1.2.3/',
      'https://2852039166/',
      'https://0/',
      'https://[000:0:0000::01]/',
      'https://[::fFFf:127.0.0.1]/',
    ])('rejects %s before connecting', async (url) => {
      await expectRejectedTarget(url);
    });
  });

  describe('IPv4-mapped, NAT64 and 6to4 IPv6 literals', () => {
    it.each([
      'https://[::ffff:7f00:1]/',
      'https://[::ffff:127.0.0.1]/',
      'https://[0:0:0:0:0:ffff:a9fe:a9fe]/',
      'https://[::]/',
      'https://[64:ff9b::7f00:1]/',
      'https://[2002:7f00:1::]/',
    ])('rejects %s before connecting', async (url) => {
      await expectRejectedTarget(url);
    });
  });

  describe('DNS answers that point inside', () => {
    it.each(['mixed.attacker.example', '127.0.0.1.nip.example', 'metadata.attacker.example', 'private.attacker.example', 'mapped.attacker.example', 'nat64.attacker.example'])(
      'rejects %s before connecting',
      async (host) => {
        await expectRejectedTarget(`https://${host}/order.json`);
      },
    );

    it('connects only to the address it checked', async () => {
      dns.queries.length = 0;

      const response = await importFrom(server, token, 'https://rebind.attacker.example/order.json');

      // The test stops the connection, so the import fails upstream.
      expect(response.status).toBe(502);
      expect(dns.queries).toEqual(['rebind.attacker.example']);
      expect(attempts.map((attempt) => attempt.address)).toEqual(['93.184.215.14']);
    });

    it('resolves a name once per import, never again at connect time', async () => {
      dns.queries.length = 0;

      await expectRejectedTarget('https://127.0.0.1.nip.example/order.json');

      expect(dns.queries).toEqual(['127.0.0.1.nip.example']);
    });
  });

  describe('internal names, schemes, ports and credentials', () => {
    it.each(['https://localhost/', 'https://metadata.google.internal/', 'https://printer.local/', 'https://metadata/'])('rejects the name in %s', async (url) => {
      await expectRejectedTarget(url);
    });

    it.each(['http://orders.example/', 'file:///etc/passwd', 'gopher://orders.example/', 'https://orders.example:8443/'])('rejects %s', async (url) => {
      await expectRejectedTarget(url);
    });

    it('rejects credentials in the URL as invalid input', async () => {
      const response = await importFrom(server, token, 'https://user:secret@orders.example/');
      const body = (await response.json()) as { code: string; errors: { pointer: string }[] };

      expect(response.status).toBe(400);
      expect(body.code).toBe('validation_failed');
      expect(body.errors[0]?.pointer).toBe('/body/url');
      expect(JSON.stringify(body)).not.toContain('secret');
      expect(attempts).toEqual([]);
    });

    it('never names the resolved internal address', async () => {
      const response = await importFrom(server, token, 'https://private.attacker.example/');

      expect(await response.text()).not.toContain('10.0.0.5');
    });

    it('logs the rejected target as a warning', async () => {
      const logsBefore = server.logs.length;

      await importFrom(server, token, 'https://metadata.attacker.example/latest/meta-data/');

      const warnings = server.logs.slice(logsBefore).filter((line) => line.includes('order import target rejected'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('"host":"metadata.attacker.example"');
      expect(warnings[0]).toContain('"rule":"cloudMetadata"');
      expect(warnings[0]).toContain('"level":40');
    });
  });

  it.each(['https://orders..attacker.example/', 'https://-orders.attacker.example/', `https://${'x'.repeat(64)}.attacker.example/`])(
    'rejects the malformed host name in %s before DNS',
    async (url) => {
      const queriesBefore = dns.queries.length;

      const response = await importFrom(server, token, url);
      const body = (await response.json()) as { code: string; errors: { pointer: string; detail: string }[] };

      expect(response.status).toBe(400);
      expect(body.code).toBe('validation_failed');
      expect(body.errors[0]).toEqual({ pointer: '/body/url', detail: 'must name a host that is an IP address or a valid DNS name' });
      expect(dns.queries.length).toBe(queriesBefore);
      expect(attempts).toEqual([]);
    },
  );

  it('answers an unresolvable host with 422', async () => {
    const response = await importFrom(server, token, 'https://unknown.attacker.example/');
    const body = (await response.json()) as { code: string; detail: string };

    expect(response.status).toBe(422);
    expect(body.code).toBe('target_not_allowed');
    expect(body.detail).toBe('The URL at /body/url (host unknown.attacker.example) names a host that does not resolve, or resolves to an internal address.');
  });

  // Different answers would tell which names the private network's DNS
  // serves, since Portcullis resolves through it.
  it('answers internal and unknown names alike', async () => {
    const internal = await importFrom(server, token, 'https://private.attacker.example/');
    const unknown = await importFrom(server, token, 'https://unknown.attacker.example/');
    const internalBody = (await internal.json()) as Record<string, unknown>;
    const unknownBody = (await unknown.json()) as Record<string, unknown>;

    expect(unknown.status).toBe(internal.status);
    expect(unknownBody['code']).toBe(internalBody['code']);
    expect(String(unknownBody['detail']).replace('unknown.', '')).toBe(String(internalBody['detail']).replace('private.', ''));
  });

  it('requires the orders:write scope', async () => {
    const response = await importFrom(server, 'not-a-token', 'https://orders.example/');

    expect(response.status).toBe(401);
  });

  it('rejects a body without a URL', async () => {
    const response = await callApi(server, '/orders/import', token, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ href: 'https://orders.example/' }),
    });

    expect(response.status).toBe(400);
    expect(attempts).toEqual([]);
  });
});

describe('order import from an allowed host', () => {
  let server: TestServer;
  let token: string;
  let upstream: ReturnType<typeof createServer>;
  let handler: (request: IncomingMessage, response: ServerResponse) => void;

  beforeAll(async () => {
    upstream = createServer((request, response) => handler(request, response));
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const port = (upstream.address() as AddressInfo).port;

    // Only this test host may resolve to loopback; everything else keeps the production rules.
    server = await startTestServer(
      { config: await roomyImportQuota() },
      {
        demoOrderImport: {
          policy: { ...ORDER_IMPORT_POLICY, allowHttp: true, allowedPorts: [port], allowedHosts: [{ name: 'orders.example.test', allowInternal: true }], timeoutMs: 1000 },
          dependencies: { resolver: async (hostname) => (hostname === 'orders.example.test' ? ['127.0.0.1'] : []) },
        },
      },
    );
    const user = await createUser(server, 'import_user');
    token = (await obtainTokens(server, user)).tokens.access_token;
  });

  afterAll(async () => {
    await server.close();
    upstream.closeAllConnections();
    upstream.close();
  });

  function url(path: string): string {
    return `http://orders.example.test:${(upstream.address() as AddressInfo).port}${path}`;
  }

  it('places an order from the fetched document', async () => {
    handler = (_request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end('{"item":"green tea","quantity":3,"ref":"r-1"}');

    const response = await importFrom(server, token, url('/order.json'));
    const order = (await response.json()) as { item: string; quantity: number; ref?: string };

    expect(response.status).toBe(201);
    expect(order.item).toBe('green tea');
    expect(order.quantity).toBe(3);
    expect(order.ref).toBeUndefined();
  });

  it.each([
    ['not JSON', 'item=tea'],
    ['no quantity', '{"item":"tea"}'],
    ['a string quantity', '{"item":"tea","quantity":"3"}'],
    ['a prototype key', '{"item":"tea","quantity":1,"__proto__":{"isAdmin":true}}'],
  ])('rejects a document with %s as 422', async (_name, document) => {
    handler = (_request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end(document);

    const response = await importFrom(server, token, url('/order.json'));

    expect(response.status).toBe(422);
    expect(((await response.json()) as { code: string }).code).toBe('unprocessable_content');
    expect(({} as Record<string, unknown>)['isAdmin']).toBeUndefined();
  });

  it('answers an upstream error status with 502', async () => {
    handler = (_request, response) => response.writeHead(500).end('boom');

    const response = await importFrom(server, token, url('/order.json'));

    expect(response.status).toBe(502);
    expect(await response.text()).not.toContain('boom');
  });

  it('answers an oversized document with 502', async () => {
    handler = (_request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end(`{"item":"${'x'.repeat(20_000)}"}`);

    const response = await importFrom(server, token, url('/big.json'));

    expect(response.status).toBe(502);
  });

  it('answers a cut-off document with 502', async () => {
    handler = (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      response.write('{"item":');
      setTimeout(() => response.destroy(), 20);
    };

    const response = await importFrom(server, token, url('/order.json'));
    const body = (await response.json()) as { code: string; detail: string };

    expect(response.status).toBe(502);
    expect(body.code).toBe('bad_gateway');
    expect(body.detail).toContain('/body/url');
  });

  it('answers a redirect to an internal address with 422', async () => {
    handler = (_request, response) => response.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();

    const response = await importFrom(server, token, url('/moved'));

    expect(response.status).toBe(422);
  });

  it.each(['http://[::1/admin', 'http://user:secret@HOST/order.json'])('answers a redirect to %s with 502', async (location) => {
    const host = `orders.example.test:${(upstream.address() as AddressInfo).port}`;
    handler = (_request, response) => response.writeHead(302, { location: location.replace('HOST', host) }).end();

    const response = await importFrom(server, token, url('/moved'));
    const body = (await response.json()) as { code: string; detail: string };

    expect(response.status).toBe(502);
    expect(body.code).toBe('bad_gateway');
    expect(body.detail).toContain('redirected to an invalid URL');
    expect(body.detail).not.toContain('secret');
  });

  it('answers a silent upstream with 504', async () => {
    handler = () => {
      // Never responds, so the import's deadline fires.
    };

    const response = await importFrom(server, token, url('/slow'));

    expect(response.status).toBe(504);
    expect(((await response.json()) as { code: string }).code).toBe('gateway_timeout');
  });
});
