import { once } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';

import { afterEach, describe, expect, it, vi } from 'vitest';

import { OutboundClient } from '../../src/core/outbound/client.js';
import type { OutboundClientDependencies, Resolver } from '../../src/core/outbound/client.js';
import { OutboundError } from '../../src/core/outbound/errors.js';
import type { ConnectAttempt } from '../../src/core/outbound/pinned-agent.js';

interface LoopbackServer {
  readonly port: number;
  readonly requests: IncomingMessage[];
  connections: number;
  close(): Promise<void>;
}

const servers: LoopbackServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

/** Starts an HTTP server on 127.0.0.1 that records every connection and request. */
async function startServer(handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<LoopbackServer> {
  const server = createServer((request, response) => {
    state.requests.push(request);
    handler(request, response);
  });
  server.on('connection', () => {
    state.connections += 1;
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');

  const state: LoopbackServer = {
    port: (server.address() as AddressInfo).port,
    requests: [],
    connections: 0,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
  servers.push(state);
  return state;
}

/**
 * Starts a TCP server on 127.0.0.1 that passes each connection to `reply`
 * once the request arrives, for responses that no HTTP server library sends.
 */
async function startRawServer(reply: (socket: Socket) => void): Promise<LoopbackServer> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('data', () => reply(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');

  const close = async (): Promise<void> => {
    sockets.forEach((socket) => socket.destroy());
    server.close();
    await once(server, 'close');
  };
  const state = { port: (server.address() as AddressInfo).port, requests: [], connections: 0, close };
  servers.push(state);
  return state;
}

/** Creates a resolver that returns fixed addresses per call and records each call. */
function sequenceResolver(...answers: (readonly string[])[]): Resolver & { calls: string[] } {
  const calls: string[] = [];
  const resolver = async (hostname: string): Promise<readonly string[]> => {
    calls.push(hostname);
    return answers[Math.min(calls.length - 1, answers.length - 1)] ?? [];
  };
  return Object.assign(resolver, { calls });
}

/**
 * Records connection attempts and stops them unless they go to 127.0.0.1,
 * so a guard that fails open still sends nothing off the machine.
 */
function connectSpy(): { attempts: ConnectAttempt[]; beforeConnect: NonNullable<OutboundClientDependencies['beforeConnect']> } {
  const attempts: ConnectAttempt[] = [];
  return {
    attempts,
    beforeConnect: (attempt) => {
      attempts.push(attempt);
      if (attempt.address !== '127.0.0.1') {
        throw new Error(`test stopped a connection to ${attempt.address}`);
      }
    },
  };
}

async function rejection(promise: Promise<unknown>): Promise<OutboundError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof OutboundError) {
      return error;
    }
    throw error;
  }
  throw new Error('expected the request to be rejected');
}

describe('OutboundClient static checks', () => {
  it.each([
    ['ftp://example.com/file', 'OUTBOUND_BLOCKED_SCHEME'],
    ['file:///etc/passwd', 'OUTBOUND_BLOCKED_SCHEME'],
    ['gopher://example.com/', 'OUTBOUND_BLOCKED_SCHEME'],
    ['http://example.com/', 'OUTBOUND_BLOCKED_SCHEME'],
    ['https://example.com:8443/', 'OUTBOUND_BLOCKED_PORT'],
    ['https://example.com:80/', 'OUTBOUND_BLOCKED_PORT'],
    ['not a url', 'OUTBOUND_INVALID_URL'],
    ['https://a..example.com/', 'OUTBOUND_INVALID_HOST'],
    ['https://-a.example.com/', 'OUTBOUND_INVALID_HOST'],
    ['https://a-.example.com/', 'OUTBOUND_INVALID_HOST'],
    ['https://a$b.example.com/', 'OUTBOUND_INVALID_HOST'],
    ['https://a*b.example.com/', 'OUTBOUND_INVALID_HOST'],
    [`https://${'a'.repeat(64)}.example.com/`, 'OUTBOUND_INVALID_HOST'],
    [`https://${'abcdefghi.'.repeat(25)}example/`, 'OUTBOUND_INVALID_HOST'],
    ['https://localhost/', 'OUTBOUND_BLOCKED_HOST'],
    ['https://127.0.0.1/', 'OUTBOUND_BLOCKED_ADDRESS'],
  ])('rejects %s before DNS', async (url, code) => {
    const resolver = sequenceResolver(['93.184.215.14']);
    const spy = connectSpy();
    const client = new OutboundClient({}, { resolver, beforeConnect: spy.beforeConnect });

    const error = await rejection(client.fetch(url));

    expect(error.code).toBe(code);
    expect(resolver.calls).toEqual([]);
    expect(spy.attempts).toEqual([]);
  });

  it('allows http and port 80 only when the policy does', async () => {
    const client = new OutboundClient({ allowHttp: true }, { resolver: sequenceResolver(['10.0.0.1']) });

    const error = await rejection(client.fetch('http://example.com/'));

    expect(error.code).toBe('OUTBOUND_BLOCKED_ADDRESS');
  });

  it('keeps URL credentials out of messages', async () => {
    const client = new OutboundClient({}, { resolver: sequenceResolver(['93.184.215.14']) });

    const withName = await rejection(client.fetch('https://user:s3cret-pass@example.com/path?token=t0ken'));
    const withAddress = await rejection(client.fetch('https://user:s3cret-pass@127.0.0.1/path?token=t0ken'));

    expect(withName.code).toBe('OUTBOUND_INVALID_URL');
    expect(withName.message).toContain('example.com');
    expect(withName.message).not.toContain('s3cret');
    expect(withName.message).not.toContain('t0ken');
    expect(withAddress.code).toBe('OUTBOUND_BLOCKED_ADDRESS');
    expect(withAddress.message).toContain('127.0.0.1');
    expect(withAddress.message).not.toContain('s3cret');
    expect(withAddress.message).not.toContain('t0ken');
  });

  it('rejects hosts missing from the allow-list', async () => {
    const resolver = sequenceResolver(['93.184.215.14']);
    const client = new OutboundClient({ allowedHosts: [{ name: 'jwks.example.com' }] }, { resolver });

    const error = await rejection(client.fetch('https://evil.example.com/'));

    expect(error.code).toBe('OUTBOUND_BLOCKED_HOST');
    expect(error.rule).toBe('notAllowListed');
    expect(resolver.calls).toEqual([]);
  });

  it.each([
    ['Bücher.Example', 'https://xn--bcher-kva.example/'],
    ['xn--bcher-kva.example', 'https://bücher.example/'],
    ['JWKS.example.com.', 'https://jwks.example.com/'],
    ['[2001:db8::1]', 'https://[2001:db8:0::1]/'],
    ['0x7f.1', 'https://127.0.0.1/'],
  ])('matches allow-list name %s', async (name, url) => {
    const attempts: ConnectAttempt[] = [];
    const beforeConnect = (attempt: ConnectAttempt): void => {
      attempts.push(attempt);
      throw new Error('test stopped the connection');
    };
    const client = new OutboundClient({ allowedHosts: [{ name, allowInternal: true }] }, { resolver: sequenceResolver(['192.0.2.1']), beforeConnect });

    const error = await rejection(client.fetch(url));

    expect(error.code).toBe('OUTBOUND_CONNECTION_FAILED');
    expect(attempts).toHaveLength(1);
  });

  it.each(['jwks.example.com:8443', 'https://jwks.example.com', 'jwks.example.com/keys', 'user@jwks.example.com', 'jwks example.com', ''])(
    'rejects allow-list name %j',
    (name) => {
      expect(() => new OutboundClient({ allowedHosts: [{ name }] })).toThrow(RangeError);
    },
  );

  it('rejects an invalid policy', () => {
    expect(() => new OutboundClient({ maxRedirects: -1 })).toThrow(RangeError);
    expect(() => new OutboundClient({ allowedPorts: [0] })).toThrow(RangeError);
    expect(() => new OutboundClient({ timeoutMs: 0 })).toThrow(RangeError);
  });
});

describe('OutboundClient resolved addresses', () => {
  it.each([
    [['93.184.215.14', '127.0.0.1'], 'loopback'],
    [['127.0.0.1', '93.184.215.14'], 'loopback'],
    [['93.184.215.14', '10.1.2.3'], 'private'],
    [['2606:4700:4700::1111', '::1'], 'loopback'],
    [['::ffff:127.0.0.1'], 'ipv4Mapped'],
    [['fe80::1%eth0'], 'linkLocal'],
    [['169.254.169.254'], 'cloudMetadata'],
    [['fd00:ec2::254'], 'cloudMetadata'],
    [['100.100.100.200'], 'cloudMetadata'],
    [['64:ff9b::a00:1'], 'rfc6052 embedding 10.0.0.1 (private)'],
    [['not-an-address'], 'invalidAddress'],
  ])('blocks answers %j without connecting', async (answers, rule) => {
    const server = await startServer((_request, response) => response.end('reached'));
    const resolver = sequenceResolver(answers);
    const spy = connectSpy();
    const client = new OutboundClient({ allowHttp: true, allowedPorts: [server.port] }, { resolver, beforeConnect: spy.beforeConnect });

    const error = await rejection(client.fetch(`http://hooks.example.com:${server.port}/`));

    expect(error.code).toBe('OUTBOUND_BLOCKED_ADDRESS');
    expect(error.rule).toBe(rule);
    expect(error.host).toBe('hooks.example.com');
    expect(error.message).toContain('hooks.example.com');
    expect(spy.attempts).toEqual([]);
    expect(server.connections).toBe(0);
  });

  it('reports an empty answer as a DNS failure', async () => {
    const client = new OutboundClient({}, { resolver: sequenceResolver([]) });

    const error = await rejection(client.fetch('https://hooks.example.com/'));

    expect(error.code).toBe('OUTBOUND_DNS_FAILED');
  });

  it('reports a resolver error as a DNS failure', async () => {
    const resolver: Resolver = async () => {
      throw new Error('ENOTFOUND');
    };
    const client = new OutboundClient({}, { resolver });

    const error = await rejection(client.fetch('https://hooks.example.com/'));

    expect(error.code).toBe('OUTBOUND_DNS_FAILED');
  });

  it('blocks an allow-listed host resolving internally', async () => {
    const spy = connectSpy();
    const client = new OutboundClient(
      { allowedHosts: [{ name: 'jwks.example.com' }] },
      { resolver: sequenceResolver(['127.0.0.1']), beforeConnect: spy.beforeConnect },
    );

    const error = await rejection(client.fetch('https://jwks.example.com/'));

    expect(error.code).toBe('OUTBOUND_BLOCKED_ADDRESS');
    expect(spy.attempts).toEqual([]);
  });

  it('blocks metadata even where internal is allowed', async () => {
    const spy = connectSpy();
    const client = new OutboundClient(
      { allowedHosts: [{ name: 'jwks.internal', allowInternal: true }, { name: '169.254.169.254', allowInternal: true }] },
      { resolver: sequenceResolver(['169.254.169.254']), beforeConnect: spy.beforeConnect },
    );

    const byName = await rejection(client.fetch('https://jwks.internal/'));
    const byAddress = await rejection(client.fetch('https://169.254.169.254/'));

    expect(byName.code).toBe('OUTBOUND_BLOCKED_ADDRESS');
    expect(byName.rule).toBe('cloudMetadata');
    expect(byAddress.code).toBe('OUTBOUND_BLOCKED_ADDRESS');
    expect(spy.attempts).toEqual([]);
  });

  it.each([
    ['64:ff9b:1::a9fe:a9fe', 'nat64LocalUse'],
    ['fd20:ce::254', 'cloudMetadata'],
    ['fe80::a9fe:a9fe', 'cloudMetadata'],
  ])('blocks metadata answer %s for an internal host', async (answer, rule) => {
    const spy = connectSpy();
    const client = new OutboundClient(
      { allowedHosts: [{ name: 'jwks.internal', allowInternal: true }] },
      { resolver: sequenceResolver([answer]), beforeConnect: spy.beforeConnect },
    );

    const error = await rejection(client.fetch('https://jwks.internal/'));

    expect(error.code).toBe('OUTBOUND_BLOCKED_ADDRESS');
    expect(error.rule).toBe(rule);
    expect(spy.attempts).toEqual([]);
  });

  it('blocks a mapped metadata answer for an internal host', async () => {
    const spy = connectSpy();
    const client = new OutboundClient(
      { allowedHosts: [{ name: 'jwks.internal', allowInternal: true }] },
      { resolver: sequenceResolver(['::ffff:169.254.169.254']), beforeConnect: spy.beforeConnect },
    );

    const error = await rejection(client.fetch('https://jwks.internal/'));

    expect(error.code).toBe('OUTBOUND_BLOCKED_ADDRESS');
    expect(error.rule).toBe('ipv4Mapped');
    expect(spy.attempts).toEqual([]);
  });
});

describe('OutboundClient connection pinning', () => {
  it('connects to the checked address, not a later answer', async () => {
    const server = await startServer((_request, response) => response.end('reached'));
    // A second lookup would return an address with nothing listening.
    const resolver = sequenceResolver(['93.184.215.14'], ['127.0.0.1']);
    const spy = connectSpy();
    const client = new OutboundClient({ allowHttp: true, allowedPorts: [server.port] }, { resolver, beforeConnect: spy.beforeConnect });

    const error = await rejection(client.fetch(`http://rebind.example.com:${server.port}/`));

    // The connect spy stops the connection to the public address, so the
    // request fails, but only after the guard chose the address it checked.
    expect(error.code).toBe('OUTBOUND_CONNECTION_FAILED');
    expect(resolver.calls).toEqual(['rebind.example.com']);
    expect(spy.attempts).toEqual([{ host: 'rebind.example.com', address: '93.184.215.14', port: server.port, protocol: 'http:' }]);
    expect(server.connections).toBe(0);
  });

  it('sends the request to the pinned loopback address', async () => {
    const server = await startServer((_request, response) => response.end('reached'));
    // 127.0.0.2 has no server, so connecting to the second result would fail.
    const resolver = sequenceResolver(['127.0.0.1'], ['127.0.0.2']);
    const spy = connectSpy();
    const client = new OutboundClient(
      { allowHttp: true, allowedPorts: [server.port], allowedHosts: [{ name: 'hooks.test', allowInternal: true }] },
      { resolver, beforeConnect: spy.beforeConnect },
    );

    const response = await client.fetch(`http://hooks.test:${server.port}/ping`);

    expect(response.status).toBe(200);
    expect(response.body.toString('utf8')).toBe('reached');
    expect(response.address).toBe('127.0.0.1');
    expect(response.redirects).toBe(0);
    expect(resolver.calls).toEqual(['hooks.test']);
    expect(spy.attempts.map((attempt) => attempt.address)).toEqual(['127.0.0.1']);
    expect(server.requests[0]?.headers.host).toBe(`hooks.test:${server.port}`);
    expect(server.requests[0]?.url).toBe('/ping');
  });

  it('ignores a caller Host header', async () => {
    const server = await startServer((_request, response) => response.end());
    const client = new OutboundClient(
      { allowHttp: true, allowedPorts: [server.port], allowedHosts: [{ name: 'hooks.test', allowInternal: true }] },
      { resolver: sequenceResolver(['127.0.0.1']) },
    );

    await client.fetch(`http://hooks.test:${server.port}/`, { headers: { Host: 'admin.internal' } });

    expect(server.requests[0]?.headers.host).toBe(`hooks.test:${server.port}`);
  });

  it('sends the host name as TLS server name', async () => {
    // A raw TCP server reads the TLS ClientHello, where SNI travels in clear.
    let clientHello = Buffer.alloc(0);
    const tcpServer = createTcpServer((socket) => {
      socket.once('data', (data) => {
        clientHello = data;
        socket.destroy();
      });
    });
    tcpServer.listen(0, '127.0.0.1');
    await once(tcpServer, 'listening');
    const port = (tcpServer.address() as AddressInfo).port;

    try {
      const client = new OutboundClient(
        { allowedPorts: [port], allowedHosts: [{ name: 'jwks.test', allowInternal: true }] },
        { resolver: sequenceResolver(['127.0.0.1']) },
      );

      const error = await rejection(client.fetch(`https://jwks.test:${port}/`));

      expect(error.code).toBe('OUTBOUND_CONNECTION_FAILED');
      expect(clientHello.includes('jwks.test')).toBe(true);
    } finally {
      tcpServer.close();
    }
  });
});

describe('OutboundClient redirects', () => {
  const internalPolicy = (port: number, extraHosts: { name: string; allowInternal?: boolean }[] = []) => ({
    allowHttp: true,
    allowedPorts: [port],
    allowedHosts: [{ name: 'hooks.test', allowInternal: true }, ...extraHosts],
  });

  it('blocks a redirect to an internal name', async () => {
    const server = await startServer((_request, response) => {
      response.writeHead(302, { location: `http://other.example.com:${server.port}/admin` }).end();
    });
    const resolver = vi.fn(async (hostname: string) => (hostname === 'hooks.test' ? ['127.0.0.1'] : ['10.0.0.7']));
    const spy = connectSpy();
    const client = new OutboundClient(internalPolicy(server.port, [{ name: 'other.example.com' }]), { resolver, beforeConnect: spy.beforeConnect });

    const error = await rejection(client.fetch(`http://hooks.test:${server.port}/start`));

    expect(error.code).toBe('OUTBOUND_BLOCKED_ADDRESS');
    expect(error.host).toBe('other.example.com');
    expect(error.rule).toBe('private');
    expect(server.requests).toHaveLength(1);
    expect(spy.attempts.map((attempt) => attempt.address)).toEqual(['127.0.0.1']);
  });

  it.each([
    ['http://127.0.0.1:PORT/admin', 'OUTBOUND_BLOCKED_ADDRESS'],
    ['http://[::ffff:7f00:1]:PORT/admin', 'OUTBOUND_BLOCKED_ADDRESS'],
    ['http://169.254.169.254:PORT/latest/meta-data/', 'OUTBOUND_BLOCKED_ADDRESS'],
    ['http://localhost:PORT/admin', 'OUTBOUND_BLOCKED_HOST'],
    ['file:///etc/passwd', 'OUTBOUND_BLOCKED_SCHEME'],
    ['http://hooks.test:1/', 'OUTBOUND_BLOCKED_PORT'],
  ])('blocks a redirect to %s', async (location, code) => {
    const server = await startServer((_request, response) => {
      response.writeHead(307, { location: location.replace('PORT', String(server.port)) }).end();
    });
    const hosts = [{ name: '127.0.0.1' }, { name: '::ffff:127.0.0.1' }, { name: '169.254.169.254' }, { name: 'localhost' }];
    const client = new OutboundClient(internalPolicy(server.port, hosts), { resolver: sequenceResolver(['127.0.0.1']) });

    const error = await rejection(client.fetch(`http://hooks.test:${server.port}/start`));

    expect(error.code).toBe(code);
    expect(server.requests).toHaveLength(1);
  });

  it.each([
    ['http://[::1/admin', 'redirectLocation'],
    ['http://user:secret@hooks.test:PORT/admin', 'credentials'],
    ['http://a..b.test:PORT/admin', 'hostName'],
  ])('rejects an invalid redirect to %s', async (location, rule) => {
    const server = await startServer((_request, response) => {
      response.writeHead(302, { location: location.replace('PORT', String(server.port)) }).end();
    });
    const client = new OutboundClient(internalPolicy(server.port, [{ name: 'a..b.test' }]), { resolver: sequenceResolver(['127.0.0.1']) });

    const error = await rejection(client.fetch(`http://hooks.test:${server.port}/start`));

    expect(error.code).toBe('OUTBOUND_INVALID_REDIRECT');
    expect(error.host).toBe('hooks.test');
    expect(error.rule).toBe(rule);
    expect(error.message).not.toContain('secret');
    expect(server.requests).toHaveLength(1);
  });

  it('follows redirects up to the limit', async () => {
    const server = await startServer((request, response) => {
      const step = Number(request.url?.slice(1));
      if (step < 2) {
        response.writeHead(302, { location: `/${step + 1}` }).end();
      } else {
        response.end(`done at ${step}`);
      }
    });
    const client = new OutboundClient({ ...internalPolicy(server.port), maxRedirects: 2 }, { resolver: sequenceResolver(['127.0.0.1']) });

    const response = await client.fetch(`http://hooks.test:${server.port}/0`);

    expect(response.body.toString('utf8')).toBe('done at 2');
    expect(response.redirects).toBe(2);
    expect(response.url).toBe(`http://hooks.test:${server.port}/2`);
  });

  it('rejects more redirects than the limit', async () => {
    const server = await startServer((request, response) => {
      const step = Number(request.url?.slice(1));
      response.writeHead(301, { location: `/${step + 1}` }).end();
    });
    const client = new OutboundClient({ ...internalPolicy(server.port), maxRedirects: 2 }, { resolver: sequenceResolver(['127.0.0.1']) });

    const error = await rejection(client.fetch(`http://hooks.test:${server.port}/0`));

    expect(error.code).toBe('OUTBOUND_TOO_MANY_REDIRECTS');
    expect(error.host).toBe('hooks.test');
    expect(server.requests).toHaveLength(3);
  });

  it('drops credentials when the origin changes', async () => {
    const server = await startServer((request, response) => {
      if (request.headers.host?.startsWith('hooks.test')) {
        response.writeHead(302, { location: `http://other.test:${server.port}/next` }).end();
      } else {
        response.end('next');
      }
    });
    const client = new OutboundClient(internalPolicy(server.port, [{ name: 'other.test', allowInternal: true }]), {
      resolver: sequenceResolver(['127.0.0.1']),
    });
    const headers = {
      authorization: 'Bearer abc',
      'x-api-key': 'pk_live_secret',
      'x-webhook-signature': 'sha256=abc',
      accept: 'application/json',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    };

    await client.fetch(`http://hooks.test:${server.port}/`, { headers });

    expect(server.requests).toHaveLength(2);
    expect(server.requests[0]?.headers.authorization).toBe('Bearer abc');
    expect(server.requests[0]?.headers['x-api-key']).toBe('pk_live_secret');
    expect(server.requests[1]?.headers.authorization).toBeUndefined();
    expect(server.requests[1]?.headers['x-api-key']).toBeUndefined();
    expect(server.requests[1]?.headers['x-webhook-signature']).toBeUndefined();
    expect(server.requests[1]?.headers.accept).toBe('application/json');
    expect(server.requests[1]?.headers.traceparent).toBe(headers.traceparent);
  });

  it('keeps every header on the same origin', async () => {
    const server = await startServer((request, response) => {
      if (request.url === '/') {
        response.writeHead(302, { location: '/next' }).end();
      } else {
        response.end('next');
      }
    });
    const client = new OutboundClient(internalPolicy(server.port), { resolver: sequenceResolver(['127.0.0.1']) });

    await client.fetch(`http://hooks.test:${server.port}/`, { headers: { authorization: 'Bearer abc', 'x-api-key': 'pk_live_secret' } });

    expect(server.requests).toHaveLength(2);
    expect(server.requests[1]?.headers.authorization).toBe('Bearer abc');
    expect(server.requests[1]?.headers['x-api-key']).toBe('pk_live_secret');
  });

  it('turns a POST into a GET after 303', async () => {
    const server = await startServer((request, response) => {
      if (request.url === '/submit') {
        response.writeHead(303, { location: '/result' }).end();
      } else {
        response.end(request.method);
      }
    });
    const client = new OutboundClient(internalPolicy(server.port), { resolver: sequenceResolver(['127.0.0.1']) });

    const response = await client.fetch(`http://hooks.test:${server.port}/submit`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":1}',
    });

    expect(response.body.toString('utf8')).toBe('GET');
    expect(server.requests[1]?.headers['content-type']).toBeUndefined();
  });
});

describe('OutboundClient limits', () => {
  const policyFor = (port: number) => ({
    allowHttp: true,
    allowedPorts: [port],
    allowedHosts: [{ name: 'hooks.test', allowInternal: true }],
  });

  it('rejects a declared oversized body', async () => {
    const server = await startServer((_request, response) => response.end('x'.repeat(2000)));
    const client = new OutboundClient({ ...policyFor(server.port), maxResponseBytes: 1000 }, { resolver: sequenceResolver(['127.0.0.1']) });

    const error = await rejection(client.fetch(`http://hooks.test:${server.port}/`));

    expect(error.code).toBe('OUTBOUND_RESPONSE_TOO_LARGE');
  });

  it('aborts a streamed body past the cap', async () => {
    let serverFinished = false;
    const server = await startServer((_request, response) => {
      const chunk = Buffer.alloc(64 * 1024, 'x');
      let sent = 0;
      const writeMore = (): void => {
        while (sent < 64 && !response.destroyed) {
          sent += 1;
          if (!response.write(chunk)) {
            response.once('drain', writeMore);
            return;
          }
        }
        if (!response.destroyed) {
          serverFinished = true;
          response.end();
        }
      };
      writeMore();
    });
    const client = new OutboundClient({ ...policyFor(server.port), maxResponseBytes: 100_000 }, { resolver: sequenceResolver(['127.0.0.1']) });

    const error = await rejection(client.fetch(`http://hooks.test:${server.port}/`));

    expect(error.code).toBe('OUTBOUND_RESPONSE_TOO_LARGE');
    expect(serverFinished).toBe(false);
  });

  it('accepts a body exactly at the cap', async () => {
    const server = await startServer((_request, response) => response.end('x'.repeat(1000)));
    const client = new OutboundClient({ ...policyFor(server.port), maxResponseBytes: 1000 }, { resolver: sequenceResolver(['127.0.0.1']) });

    const response = await client.fetch(`http://hooks.test:${server.port}/`);

    expect(response.body).toHaveLength(1000);
  });

  it.each([
    ['a body shorter than its length', (socket: Socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"keys":');
      setTimeout(() => socket.destroy(), 20);
    }],
    ['a reset inside a chunked body', (socket: Socket) => {
      socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n8\r\n{"keys":\r\n');
      setTimeout(() => socket.resetAndDestroy(), 20);
    }],
    ['an invalid chunk size', (socket: Socket) => {
      socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{"keys":\r\n');
    }],
  ])('reports %s as connection failure', async (_name, reply) => {
    const server = await startRawServer(reply);
    const client = new OutboundClient(policyFor(server.port), { resolver: sequenceResolver(['127.0.0.1']) });

    const error = await rejection(client.fetch(`http://hooks.test:${server.port}/`));

    expect(error.code).toBe('OUTBOUND_CONNECTION_FAILED');
    expect(error.host).toBe('hooks.test');
    expect(error.rule).toBe('responseBody');
  });

  it.each([
    ['chunk extensions', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1;', `${'x'.repeat(1023)};`],
    ['interim responses', '', 'HTTP/1.1 102 Processing\r\n\r\n'.repeat(40)],
  ])('caps received bytes of endless %s', async (_name, head, filler) => {
    let written = 0;
    const server = await startRawServer((socket) => {
      socket.write(head);
      // Stops at 64 MiB, so a client without a cap still ends the test.
      const writeMore = (): void => {
        while (!socket.destroyed && written < 64 * 1024 * 1024) {
          written += filler.length;
          if (!socket.write(filler)) {
            socket.once('drain', writeMore);
            return;
          }
        }
        socket.end();
      };
      writeMore();
    });
    const client = new OutboundClient({ ...policyFor(server.port), maxResponseBytes: 1000, timeoutMs: 20_000 }, { resolver: sequenceResolver(['127.0.0.1']) });

    const error = await rejection(client.fetch(`http://hooks.test:${server.port}/`));

    expect(error.code).toBe('OUTBOUND_RESPONSE_TOO_LARGE');
    expect(error.rule).toBe('maxReceivedBytes');
    expect(written).toBeLessThan(4 * 1024 * 1024);
  });

  it('times out a server that never answers', async () => {
    const server = await startServer(() => {
      // Never respond.
    });
    const client = new OutboundClient({ ...policyFor(server.port), timeoutMs: 200 }, { resolver: sequenceResolver(['127.0.0.1']) });
    const started = Date.now();

    const error = await rejection(client.fetch(`http://hooks.test:${server.port}/`));

    expect(error.code).toBe('OUTBOUND_TIMEOUT');
    expect(error.host).toBe('hooks.test');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('times out a slow body', async () => {
    const server = await startServer((_request, response) => {
      response.write('partial');
    });
    const client = new OutboundClient({ ...policyFor(server.port), timeoutMs: 200 }, { resolver: sequenceResolver(['127.0.0.1']) });

    const error = await rejection(client.fetch(`http://hooks.test:${server.port}/`));

    expect(error.code).toBe('OUTBOUND_TIMEOUT');
  });

  it('times out a resolver that never answers', async () => {
    const resolver: Resolver = () => new Promise(() => {});
    const client = new OutboundClient({ timeoutMs: 100 }, { resolver });
    const started = Date.now();

    const error = await rejection(client.fetch('https://hooks.example.com/'));

    expect(error.code).toBe('OUTBOUND_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
