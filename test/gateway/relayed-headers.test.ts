import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { writeConfigFile } from '../support/config-file.js';
import { HEADER_NAME_MEMO } from '../../src/gateway/relayed-headers.js';
import { rawRequest } from '../support/raw-http.js';
import { sendRaw, statusCodes } from '../support/raw-socket.js';
import { startScriptedUpstream, type ScriptedUpstream, type UpstreamHandler } from '../support/scripted-upstream.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Response headers that both the gateway and the upstream set, and the
 * forwarding headers that the upstream receives.
 */

const ISSUER = 'https://gw.example.test';
const APP_ORIGIN = 'https://app.example.test';
const DEPRECATION = '2025-01-01T00:00:00Z';
const SUNSET = '2099-12-31T23:59:59Z';
const GATEWAY_LINK = '<https://docs.example/status>; rel="deprecation"';
const GATEWAY_POLICY = '"status-per-ip";q=1000;w=60';

const DOCUMENT = {
  openapi: '3.1.0',
  info: { title: 'Fixture', version: '1' },
  paths: {
    '/status': { get: { operationId: 'status', deprecated: true, responses: { '200': { description: 'Up.' } } } },
    '/checked': {
      get: {
        operationId: 'checked',
        deprecated: true,
        responses: { '200': { description: 'Checked.', content: { 'application/json': { schema: { type: 'object' } } } } },
      },
    },
    '/plain': { get: { operationId: 'plain', responses: { '200': { description: 'Plain.' } } } },
    '/regional': {
      get: {
        operationId: 'regional',
        parameters: [{ name: 'X-Region', in: 'header', schema: { type: 'string', enum: ['eu', 'us'] } }],
        responses: { '200': { description: 'Regional.' } },
      },
    },
  },
};

/** An upstream response that sets every field the gateway also sets. */
const UPSTREAM_HEADERS = {
  'content-type': 'application/json',
  ratelimit: '"upstream";r=9;t=30',
  'ratelimit-policy': '"upstream";q=10;w=60',
  link: '<https://upstream.example/next>; rel="next"',
  deprecation: '@1',
  sunset: 'Thu, 01 Jan 1970 00:00:00 GMT',
};

function respondWith(status: number, headers: Record<string, string>, body = '{}'): UpstreamHandler {
  return (_request, response) => {
    response.writeHead(status, headers).end(body);
  };
}

/** Splits a list field into its members, whatever the number of field lines. */
function members(value: string | null): string[] {
  return (value ?? '').split(/,\s*(?=[<"])/).filter((member) => member !== '');
}

function exposedHeaders(response: Response): string[] {
  return (response.headers.get('access-control-expose-headers') ?? '').split(',').map((name) => name.trim().toLowerCase());
}

async function startGateway(upstream: ScriptedUpstream, trustedProxies: string[] = [], dropRequestHeaders: string[] = []): Promise<TestServer> {
  const document = await writeConfigFile(DOCUMENT);
  const limit = { name: 'status-per-ip', key: ['ip'], limit: 1000, period: '1m', onStoreFailure: 'open' };
  const config = await writeConfigFile({
    corsOrigins: [APP_ORIGIN],
    gateway: {
      upstreams: [
        {
          name: 'fixture',
          url: upstream.url,
          mountPath: '/v1',
          openapi: document,
          dropRequestHeaders,
          operations: {
            status: { public: true, deprecation: DEPRECATION, sunset: SUNSET, deprecationLink: 'https://docs.example/status' },
            checked: { public: true, deprecation: DEPRECATION },
            plain: { public: true },
            regional: { public: true },
          },
        },
      ],
    },
    rateLimit: {
      trustedProxies,
      flows: [],
      routes: [
        { method: 'GET', path: '/status', limits: [limit] },
        { method: 'GET', path: '/checked', limits: [limit] },
      ],
    },
  });
  return startTestServer({ config, issuer: ISSUER });
}

describe('response headers set by gateway and upstream', () => {
  let upstream: ScriptedUpstream;
  let server: TestServer;

  beforeAll(async () => {
    upstream = await startScriptedUpstream();
    server = await startGateway(upstream);
  });

  afterAll(async () => {
    await server.close();
    await upstream.close();
  });

  beforeEach(() => {
    upstream.respond(respondWith(200, UPSTREAM_HEADERS));
  });

  it('combines the RateLimit fields', async () => {
    const response = await fetch(`${server.url}/v1/status`);

    expect(response.status).toBe(200);
    const policies = members(response.headers.get('ratelimit-policy'));
    expect(policies.slice(0, -1)).toContain(GATEWAY_POLICY);
    expect(policies.at(-1)).toBe('"upstream";q=10;w=60');
    const limits = members(response.headers.get('ratelimit'));
    expect(limits.slice(0, -1).some((member) => /^"status-per-ip";r=\d+;t=\d+$/.test(member))).toBe(true);
    expect(limits.at(-1)).toBe('"upstream";r=9;t=30');
  });

  it('combines the Link fields', async () => {
    const response = await fetch(`${server.url}/v1/status`);

    expect(members(response.headers.get('link'))).toEqual([GATEWAY_LINK, '<https://upstream.example/next>; rel="next"']);
  });

  it("keeps the gateway's Deprecation and Sunset", async () => {
    const response = await rawRequest(`${server.url}/v1/status`);

    expect(response.headers['deprecation']).toBe(`@${Date.parse(DEPRECATION) / 1000}`);
    expect(response.headers['sunset']).toBe('Thu, 31 Dec 2099 23:59:59 GMT');
  });

  it("relays the upstream's fields where the gateway sets none", async () => {
    const response = await fetch(`${server.url}/v1/plain`);

    expect(response.status).toBe(200);
    expect(members(response.headers.get('ratelimit')).at(-1)).toBe('"upstream";r=9;t=30');
    expect(members(response.headers.get('ratelimit-policy')).at(-1)).toBe('"upstream";q=10;w=60');
    expect(response.headers.get('link')).toBe('<https://upstream.example/next>; rel="next"');
    expect(response.headers.get('deprecation')).toBe('@1');
    expect(response.headers.get('sunset')).toBe('Thu, 01 Jan 1970 00:00:00 GMT');
  });

  it("drops the upstream's proxy authentication fields", async () => {
    upstream.respond(respondWith(200, { 'content-type': 'application/json', 'proxy-authenticate': 'Basic realm="upstream"', 'proxy-authentication-info': 'nextnonce="1"' }));
    const response = await fetch(`${server.url}/v1/plain`);

    expect(response.status).toBe(200);
    expect(response.headers.get('proxy-authenticate')).toBeNull();
    expect(response.headers.get('proxy-authentication-info')).toBeNull();
  });

  it("drops the upstream's origin-wide fields", async () => {
    const originWide = {
      'set-cookie': '_session=planted; Path=/',
      'set-cookie2': '_session=planted; Version=1',
      'clear-site-data': '"cookies", "storage"',
      nel: '{"report_to":"upstream","max_age":31536000,"include_subdomains":true}',
      'report-to': '{"group":"upstream","max_age":31536000,"endpoints":[{"url":"https://collector.example/r"}]}',
      'alt-svc': 'h2="upstream.example:443"; ma=86400',
      'service-worker-allowed': '/',
      'accept-ch': 'Sec-CH-UA-Model, Sec-CH-UA-Platform-Version',
      'critical-ch': 'Sec-CH-UA-Model',
    };
    upstream.respond(respondWith(200, { 'content-type': 'application/json', ...originWide }));

    for (const path of ['/v1/plain', '/v1/checked']) {
      const response = await rawRequest(`${server.url}${path}`);

      expect(response.status, path).toBe(200);
      for (const name of Object.keys(originWide)) {
        expect(response.headers[name], `${path} ${name}`).toBeUndefined();
      }
    }
  });

  it("rewrites the upstream's own URLs", async () => {
    upstream.respond(
      respondWith(200, {
        'content-type': 'application/json',
        location: `${upstream.url}/orders/5?view=full#top`,
        'content-location': `${upstream.url.replace('http://', 'HTTP://')}/orders/5`,
        refresh: `0; url=${upstream.url}/orders/5`,
        link: `<${upstream.url}/orders?page=2>; rel="next", </orders?page=1>; rel="first", <https://docs.example/orders>; rel="help"`,
      }),
    );
    const response = await fetch(`${server.url}/v1/plain`);

    expect(response.status).toBe(200);
    expect(response.headers.get('location')).toBe(`${ISSUER}/v1/orders/5?view=full#top`);
    expect(response.headers.get('content-location')).toBe(`${ISSUER}/v1/orders/5`);
    expect(response.headers.get('refresh')).toBe(`0; url=${ISSUER}/v1/orders/5`);
    expect(members(response.headers.get('link'))).toEqual([
      `<${ISSUER}/v1/orders?page=2>; rel="next"`,
      '</v1/orders?page=1>; rel="first"',
      '<https://docs.example/orders>; rel="help"',
    ]);
  });

  it('puts path-absolute references under the mount path', async () => {
    upstream.respond(respondWith(200, { location: '/orders/5', 'content-location': `//${new URL(upstream.url).host}/orders/5` }, ''));
    const response = await rawRequest(`${server.url}/v1/plain`);

    expect(response.status).toBe(200);
    expect(response.headers['location']).toBe('/v1/orders/5');
    expect(response.headers['content-location']).toBe('/v1/orders/5');
  });

  it('keeps URLs that point elsewhere', async () => {
    upstream.respond(respondWith(200, { location: 'https://login.example/start', 'content-location': 'orders/5', refresh: '0; url=//login.example/start' }, ''));
    const response = await rawRequest(`${server.url}/v1/plain`);

    expect(response.status).toBe(200);
    expect(response.headers['location']).toBe('https://login.example/start');
    expect(response.headers['content-location']).toBe('orders/5');
    expect(response.headers['refresh']).toBe('0; url=//login.example/start');
  });

  it('joins repeated upstream field lines', async () => {
    upstream.respond((_request, response) => {
      response.setHeader('content-type', 'application/json');
      response.setHeader('link', ['<https://upstream.example/a>; rel="a"', '<https://upstream.example/b>; rel="b"']);
      response.end('{}');
    });
    const response = await fetch(`${server.url}/v1/status`);

    expect(members(response.headers.get('link'))).toEqual([GATEWAY_LINK, '<https://upstream.example/a>; rel="a"', '<https://upstream.example/b>; rel="b"']);
  });

  it("keeps only the gateway's fields on a replaced response", async () => {
    upstream.respond(respondWith(500, UPSTREAM_HEADERS));
    const response = await fetch(`${server.url}/v1/checked`);

    expect(response.status).toBe(502);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect(response.headers.get('deprecation')).toBe(`@${Date.parse(DEPRECATION) / 1000}`);
    expect(response.headers.get('sunset')).toBeNull();
    expect(response.headers.get('link')).toBeNull();
    const policies = members(response.headers.get('ratelimit-policy'));
    expect(policies).toContain(GATEWAY_POLICY);
    expect(policies).not.toContain('"upstream";q=10;w=60');
    expect(response.headers.get('ratelimit')).not.toContain('"upstream"');
  });

  it('exposes the lifecycle fields to a listed origin', async () => {
    const response = await fetch(`${server.url}/v1/status`, { headers: { origin: APP_ORIGIN } });
    const exposed = exposedHeaders(response);

    expect(response.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(exposed).toContain('deprecation');
    expect(exposed).toContain('sunset');
    expect(exposed).toContain('link');
  });

  it('exposes the lifecycle fields on early errors', async () => {
    const response = await fetch(`${server.url}/v1/status/%ff`, { headers: { origin: APP_ORIGIN } });
    const exposed = exposedHeaders(response);

    expect(response.status).toBe(400);
    expect(response.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(exposed).toContain('deprecation');
    expect(exposed).toContain('sunset');
    expect(exposed).toContain('link');
  });
});

/** Forwarding headers and identity headers of proxies that a caller writes itself. */
const FORGED_HEADERS: Record<string, string> = {
  forwarded: 'for=198.51.100.1;host=evil.example;proto=https',
  'x-forwarded-for': '198.51.100.1',
  'x-forwarded-host': 'evil.example',
  'x-forwarded-proto': 'gopher',
  'x-forwarded-port': '8443',
  'x-forwarded-server': 'evil.example',
  'x-forwarded-scheme': 'https',
  'x-forwarded-ssl': 'on',
  'x-real-ip': '198.51.100.2',
  'x-client-ip': '198.51.100.3',
  'true-client-ip': '198.51.100.4',
  'cf-connecting-ip': '198.51.100.5',
  'fastly-client-ip': '198.51.100.6',
  'x-cluster-client-ip': '198.51.100.7',
  'x-original-forwarded-for': '198.51.100.8',
  'x-original-host': 'evil.example',
  'x-host': 'evil.example',
  'front-end-https': 'on',
  'x-url-scheme': 'https',
  'x-scheme': 'https',
  'x-envoy-upstream-rq-timeout-ms': '600000',
  'x-envoy-upstream-rq-per-try-timeout-ms': '600000',
  'x-envoy-retry-on': '5xx,reset',
  'x-envoy-max-retries': '100',
  'x-envoy-original-path': '/admin',
  'x-envoy-internal': 'true',
  'x-original-method': 'DELETE',
  'client-cert': ':Zm9yZ2Vk:',
  'client-cert-chain': ':Zm9yZ2Vk:',
  'x-ssl-client-cert': 'forged',
  'x-ssl-client-verify': 'SUCCESS',
  'x-ssl-client-s-dn': 'CN=admin',
  'x-client-cert': 'forged',
  'x-forwarded-client-cert': 'Hash=forged;Subject="CN=admin"',
  'x-forwarded-user': 'admin',
  'x-forwarded-email': 'admin@example.test',
  'x-remote-user': 'admin',
  'remote-user': 'admin',
  'x-auth-request-user': 'admin',
  'x-auth-request-email': 'admin@example.test',
  'x-authenticated-user': 'admin',
  'x-authenticated-userid': 'admin',
  'x-authenticated-scope': 'admin',
  'x-consumer-username': 'admin',
  'x-consumer-id': 'admin',
  'x-credential-identifier': 'admin',
  'x-anonymous-consumer': 'false',
  'x-userinfo': 'eyJzdWIiOiJhZG1pbiJ9',
  'x-endpoint-api-userinfo': 'eyJzdWIiOiJhZG1pbiJ9',
  'x-apigateway-api-userinfo': 'eyJzdWIiOiJhZG1pbiJ9',
  'x-jwt-assertion': 'forged.assertion.value',
  'x-remote-group': 'system:masters',
  'x-remote-extra-scopes': 'admin',
  'impersonate-user': 'admin',
  'impersonate-group': 'system:masters',
  'x-webauth-user': 'admin',
  'x-webauth-role': 'Admin',
  'x-goog-authenticated-user-email': 'accounts.google.com:admin@example.test',
  'x-goog-iap-jwt-assertion': 'forged.assertion.value',
  'x-ms-client-principal': 'eyJ1c2VyX2lkIjoiYWRtaW4ifQ==',
  'x-ms-client-principal-name': 'admin@example.test',
  'x-ms-token-aad-id-token': 'forged.token.value',
  'x-amzn-oidc-identity': 'admin',
  'x-amzn-oidc-data': 'forged.token.value',
  'x-amzn-mtls-clientcert': 'forged',
  'cf-access-authenticated-user-email': 'admin@example.test',
  'cf-access-jwt-assertion': 'forged.assertion.value',
  'x-arr-clientcert': 'forged',
  'x-original-uri': '/admin',
  'x-portcullis-identity': 'forged.assertion.value',
  'x-portcullis-subject': 'forged-admin',
  x_portcullis_roles: 'admin',
};

/** The forwarding headers that the gateway writes itself. */
const GATEWAY_FORWARDING = new Set(['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto']);

describe('forwarding headers from the caller', () => {
  let upstream: ScriptedUpstream;

  beforeAll(async () => {
    upstream = await startScriptedUpstream();
    upstream.respond(respondWith(200, { 'content-type': 'application/json' }));
  });

  afterAll(async () => {
    await upstream.close();
  });

  async function forwardedHeaders(server: TestServer, headers: Record<string, string>, path = '/v1/plain'): Promise<Record<string, unknown>> {
    const response = await rawRequest(`${server.url}${path}`, { headers });
    expect(response.status).toBe(200);
    return upstream.lastRequestHeaders ?? {};
  }

  describe('without a trusted proxy', () => {
    let server: TestServer;

    beforeAll(async () => {
      server = await startGateway(upstream);
    });

    afterAll(async () => {
      await server.close();
    });

    it('drops every forged forwarding header', async () => {
      const received = await forwardedHeaders(server, FORGED_HEADERS);

      for (const name of Object.keys(FORGED_HEADERS).filter((header) => !GATEWAY_FORWARDING.has(header))) {
        expect(received[name], name).toBeUndefined();
      }
      expect(received['x-portcullis-subject']).toBeUndefined();
      expect(received['x-portcullis-identity']).toBeUndefined();
    });

    it('writes its own forwarding headers', async () => {
      const received = await forwardedHeaders(server, FORGED_HEADERS);

      expect(received['x-forwarded-for']).toBe('127.0.0.1');
      expect(received['x-forwarded-proto']).toBe('https');
      expect(received['x-forwarded-host']).toBe('gw.example.test');
    });

    it('takes X-Forwarded-Host from the issuer, not Host', async () => {
      const received = await forwardedHeaders(server, { host: 'evil.example' });

      expect(received['x-forwarded-host']).toBe('gw.example.test');
    });

    // Servers that map `_` to `-` read these as the header that the gateway
    // validated or wrote, so the upstream would see a second, unchecked value.
    it('drops an underscore spelling of a header parameter', async () => {
      const alone = await forwardedHeaders(server, { X_Region: 'elsewhere' }, '/v1/regional');

      expect(alone['x_region']).toBeUndefined();

      const both = await forwardedHeaders(server, { 'X-Region': 'eu', X_Region: 'elsewhere' }, '/v1/regional');

      expect(both['x-region']).toBe('eu');
      expect(both['x_region']).toBeUndefined();
    });

    it('drops underscore spellings of headers it writes', async () => {
      const received = await forwardedHeaders(server, { Content_Length: '9999', Content_Type: 'text/xml', Accept_Encoding: 'gzip' }, '/v1/checked');

      expect(received['content_length']).toBeUndefined();
      expect(received['content_type']).toBeUndefined();
      expect(received['accept_encoding']).toBeUndefined();
      expect(received['accept-encoding']).toBe('identity');
    });

    it('drops underscore spellings of conditional headers', async () => {
      const received = await forwardedHeaders(server, { If_None_Match: '"v1"', If_Modified_Since: 'Thu, 01 Jan 2099 00:00:00 GMT' }, '/v1/checked');

      expect(received['if_none_match']).toBeUndefined();
      expect(received['if_modified_since']).toBeUndefined();
    });

    it('drops underscore spellings of another header', async () => {
      const received = await forwardedHeaders(server, { 'X-Trace-Id': 'a', X_Trace_Id: 'b', 'X_Trace-Id': 'c' });

      expect(received['x-trace-id']).toBe('a');
      expect(received['x_trace_id']).toBeUndefined();
      expect(received['x_trace-id']).toBeUndefined();
    });

    it('keeps an underscore name that no other header shares', async () => {
      const received = await forwardedHeaders(server, { X_Trace: 'kept' });

      expect(received['x_trace']).toBe('kept');
    });

    it('drops other punctuation spellings', async () => {
      const forged = await forwardedHeaders(server, {
        'X.Portcullis.Subject': 'forged-admin',
        'x.forwarded.host': 'evil.example',
        'X~Remote~User': 'admin',
        X_Scheme: 'https',
        'X.Envoy.Retry-On': '5xx',
      });

      expect(forged['x.portcullis.subject']).toBeUndefined();
      expect(forged['x.forwarded.host']).toBeUndefined();
      expect(forged['x~remote~user']).toBeUndefined();
      expect(forged['x_scheme']).toBeUndefined();
      expect(forged['x.envoy.retry-on']).toBeUndefined();

      const parameter = await forwardedHeaders(server, { 'X-Region': 'eu', 'X.Region': 'elsewhere' }, '/v1/regional');

      expect(parameter['x-region']).toBe('eu');
      expect(parameter['x.region']).toBeUndefined();
    });
  });

  describe('with headers the upstream drops', () => {
    let server: TestServer;

    beforeAll(async () => {
      server = await startGateway(upstream, [], ['x-user-id', 'X-Tenant-*']);
    });

    afterAll(async () => {
      await server.close();
    });

    it('drops named headers and prefixes', async () => {
      const received = await forwardedHeaders(server, {
        'X-User-Id': 'admin',
        'x-tenant-id': 'other-tenant',
        'x-tenant-role': 'owner',
        'x-userid': 'kept',
        'x-trace-id': 'kept',
      });

      expect(received['x-user-id']).toBeUndefined();
      expect(received['x-tenant-id']).toBeUndefined();
      expect(received['x-tenant-role']).toBeUndefined();
      expect(received['x-userid']).toBe('kept');
      expect(received['x-trace-id']).toBe('kept');
    });

    it('drops underscore spellings too', async () => {
      const received = await forwardedHeaders(server, { X_User_Id: 'admin', x_tenant_id: 'other-tenant' });

      expect(received['x_user_id']).toBeUndefined();
      expect(received['x_tenant_id']).toBeUndefined();
    });

    it('drops dotted spellings too', async () => {
      const received = await forwardedHeaders(server, { 'X.User.Id': 'admin', 'x.tenant.id': 'other-tenant' });

      expect(received['x.user.id']).toBeUndefined();
      expect(received['x.tenant.id']).toBeUndefined();
    });

    it('still drops its own list', async () => {
      const received = await forwardedHeaders(server, FORGED_HEADERS);

      expect(received['x-remote-user']).toBeUndefined();
      expect(received['x-portcullis-subject']).toBeUndefined();
    });
  });

  describe('behind a trusted proxy', () => {
    let server: TestServer;

    beforeAll(async () => {
      server = await startGateway(upstream, ['127.0.0.1', '10.0.0.0/8']);
    });

    afterAll(async () => {
      await server.close();
    });

    it('keeps the addresses the trusted proxies added', async () => {
      const received = await forwardedHeaders(server, { 'x-forwarded-for': '198.51.100.1, 203.0.113.5, 10.0.0.2' });

      expect(received['x-forwarded-for']).toBe('203.0.113.5, 10.0.0.2, 127.0.0.1');
    });

    it('drops the other forwarding headers', async () => {
      const received = await forwardedHeaders(server, FORGED_HEADERS);

      expect(received['x-forwarded-for']).toBe('198.51.100.1, 127.0.0.1');
      expect(received['x-forwarded-proto']).toBe('https');
      expect(received['x-forwarded-host']).toBe('gw.example.test');
      expect(received['forwarded']).toBeUndefined();
      expect(received['x-forwarded-port']).toBeUndefined();
      expect(received['x-real-ip']).toBeUndefined();
    });
  });

  describe('with a trusted proxy that is not the peer', () => {
    let server: TestServer;

    beforeAll(async () => {
      server = await startGateway(upstream, ['10.0.0.0/8']);
    });

    afterAll(async () => {
      await server.close();
    });

    it('ignores the X-Forwarded- headers of an untrusted peer', async () => {
      const received = await forwardedHeaders(server, { 'x-forwarded-for': '10.0.0.2', 'x-forwarded-proto': 'gopher', 'x-forwarded-host': 'evil.example' });

      expect(received['x-forwarded-for']).toBe('127.0.0.1');
      expect(received['x-forwarded-proto']).toBe('https');
      expect(received['x-forwarded-host']).toBe('gw.example.test');
    });
  });
});

describe('forged headers on a raw connection', () => {
  let upstream: ScriptedUpstream;
  let server: TestServer;
  let port: number;
  const received: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    upstream = await startScriptedUpstream();
    upstream.respond((request, response) => {
      received.push(request.headers);
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    server = await startGateway(upstream, [], ['x-user-id', 'X-Tenant-*']);
    port = Number(new URL(server.url).port);
  });

  afterAll(async () => {
    await server.close();
    await upstream.close();
  });

  beforeEach(() => {
    received.length = 0;
  });

  function request(lines: string[]): string {
    return `GET /v1/plain HTTP/1.1\r\nHost: gw.example.test\r\n${lines.map((line) => `${line}\r\n`).join('')}\r\n`;
  }

  it('drops forged headers of a pipelined request', async () => {
    const forged = request(['X-Portcullis-Subject: admin', 'X_Portcullis_Roles: admin', 'X-User-Id: admin', 'x-tenant-id: other', 'Connection: close']);
    const exchange = await sendRaw(port, `${request([])}${forged}`);

    expect(statusCodes(exchange.received)).toEqual([200, 200]);
    expect(received).toHaveLength(2);
    for (const headers of received) {
      expect(headers['x-portcullis-subject']).toBeUndefined();
      expect(headers['x_portcullis_roles']).toBeUndefined();
      expect(headers['x-user-id']).toBeUndefined();
      expect(headers['x-tenant-id']).toBeUndefined();
    }
  });

  it('drops forged headers after many names', async () => {
    const names = Array.from({ length: 2 * HEADER_NAME_MEMO.maxEntries }, (_, index) => `X-Name-${index}: v`);
    const exchange = await sendRaw(port, request([...names, 'X-Portcullis-Subject: admin', 'X-User-Id: admin', 'X-Forwarded-Host: evil.example', 'Connection: close']));

    expect(statusCodes(exchange.received)).toEqual([200]);
    expect(received[0]?.['x-name-0']).toBe('v');
    expect(received[0]?.['x-portcullis-subject']).toBeUndefined();
    expect(received[0]?.['x-user-id']).toBeUndefined();
    expect(received[0]?.['x-forwarded-host']).toBe('gw.example.test');
  });

  it('drops names longer than the memo keys', async () => {
    const tail = 'a'.repeat(HEADER_NAME_MEMO.maxKeyLength);
    const exchange = await sendRaw(
      port,
      request([`x-portcullis-${tail}: admin`, `X-Tenant-${tail}: other`, `x_forwarded_${tail}: evil.example`, `x-trace-${tail}: kept`, 'Connection: close']),
    );

    expect(statusCodes(exchange.received)).toEqual([200]);
    expect(received[0]?.[`x-portcullis-${tail}`]).toBeUndefined();
    expect(received[0]?.[`x-tenant-${tail}`]).toBeUndefined();
    expect(received[0]?.[`x_forwarded_${tail}`]).toBeUndefined();
    expect(received[0]?.[`x-trace-${tail}`]).toBe('kept');
  });

  it('drops headers named in Connection', async () => {
    const exchange = await sendRaw(port, request(['Connection: x-trace, x-portcullis-subject', 'X-Trace: 1', 'X-Portcullis-Subject: admin', 'Connection: close']));

    expect(statusCodes(exchange.received)).toEqual([200]);
    expect(received[0]?.['x-trace']).toBeUndefined();
    expect(received[0]?.['x-portcullis-subject']).toBeUndefined();
  });

  it('sends its own Host whatever Connection names', async () => {
    const exchange = await sendRaw(port, request(['Connection: keep-alive, host', 'Connection: close']));

    expect(statusCodes(exchange.received)).toEqual([200]);
    expect(received[0]?.['host']).toBe(new URL(upstream.url).host);
  });

  it('ignores the authority of an absolute-form target', async () => {
    const exchange = await sendRaw(port, 'GET http://evil.example/v1/plain HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n');

    expect(statusCodes(exchange.received)).toEqual([200]);
    expect(received[0]?.['host']).toBe(new URL(upstream.url).host);
    expect(received[0]?.['x-forwarded-host']).toBe('gw.example.test');
  });
});
