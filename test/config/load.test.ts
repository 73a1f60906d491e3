import { describe, expect, it } from 'vitest';

import { basename, resolve } from 'node:path';

import { loadConfig } from '../../src/config/load.js';
import { CONFIG_SCHEMA } from '../../src/config/schema.js';
import { problemsOf, writeConfigFile } from '../support/config-file.js';

describe('configuration loading', () => {
  it('defaults to loopback and port 8080', () => {
    const config = loadConfig({}, {});
    expect(config.host).toBe('127.0.0.1');
    expect(config.port).toBe(8080);
    expect(config.issuer).toBe('http://127.0.0.1:8080');
    expect(config.audience).toBe('http://127.0.0.1:8080/api');
    expect(Object.isFrozen(config.rateLimit.global)).toBe(true);
  });

  it('lets flags win over environment over file', async () => {
    const file = await writeConfigFile({ port: 7000, logLevel: 'warn', corsOrigins: ['https://file.example'] });
    const config = loadConfig({ config: file, port: 9000 }, { PORTCULLIS_PORT: '8000', PORTCULLIS_LOG_LEVEL: 'debug' });
    expect(config.port).toBe(9000);
    expect(config.issuer).toBe('http://127.0.0.1:9000');
    expect(config.logLevel).toBe('debug');
    expect(config.corsOrigins).toEqual(['https://file.example']);
  });

  it('names the file and path of a bad option', async () => {
    const file = await writeConfigFile({ rateLimit: { global: { limit: 0 } } });
    const problems = problemsOf(() => loadConfig({ config: file }, {}));
    expect(problems.some((problem) => /^portcullis-config-.*\.yaml: rateLimit\/global\/limit: must be >= 1$/.test(problem))).toBe(true);
  });

  it('rejects limits finer than a microsecond', async () => {
    const file = await writeConfigFile({
      rateLimit: { global: { limit: 2000, period: '1ms' }, signIn: { limit: 1_000_000, period: '1s' }, registration: { limit: 1_000_001, period: '1s' } },
    });
    const problems = problemsOf(() => loadConfig({ config: file }, {}));
    expect(problems.some((problem) => problem.endsWith('rateLimit/global/limit: must be at most 1000 for a period of 1ms, one request per microsecond'))).toBe(true);
    expect(problems.some((problem) => problem.includes('rateLimit/signIn/limit'))).toBe(false);
    expect(problems.some((problem) => problem.endsWith('rateLimit/registration/limit: must be at most 1000000 for a period of 1s, one request per microsecond'))).toBe(true);
  });

  it('rejects request limits keyed by identity', async () => {
    const file = await writeConfigFile({
      rateLimit: {
        global: { key: ['ip', 'sub'] },
        signIn: { key: ['client_id'] },
        registration: { key: ['api_key'] },
      },
    });
    const problems = problemsOf(() => loadConfig({ config: file }, {}));
    const keyProblem = (section: string) => problems.find((problem) => problem.includes(`rateLimit/${section}/key:`));
    expect(keyProblem('global')).toContain('must be [ip], because this limit applies before any credential is read, so sub is never known');
    expect(keyProblem('signIn')).toContain('so client_id is never known');
    expect(keyProblem('registration')).toContain('so api_key is never known');
    expect(keyProblem('global')).toContain('Put per-user, per-client or per-key limits in rateLimit.routes.');
  });

  it('accepts request limits keyed by address', async () => {
    const file = await writeConfigFile({ rateLimit: { global: { key: ['ip'] } } });
    expect(loadConfig({ config: file }, {}).rateLimit.global.key).toEqual(['ip']);
  });

  it('defaults and bounds upstream limits', async () => {
    const defaults = loadConfig({}, {}).gateway;
    expect(defaults.upstreamConnectTimeoutMs).toBe(5000);
    expect(defaults.upstreamTimeoutMs).toBe(30_000);
    expect(defaults.responseLimitBytes).toBe(1_048_576);
    expect(defaults.relayTimeoutMs).toBe(300_000);

    const file = await writeConfigFile({ gateway: { upstreamConnectTimeoutMs: 50, responseLimitBytes: 100, relayTimeoutMs: 500 } });
    const problems = problemsOf(() => loadConfig({ config: file }, {})).join('\n');
    expect(problems).toContain('gateway/upstreamConnectTimeoutMs: must be >= 100');
    expect(problems).toContain('gateway/responseLimitBytes: must be >= 1024');
    expect(problems).toContain('gateway/relayTimeoutMs: must be >= 1000');
  });

  it('defaults and bounds the request timeout', async () => {
    expect(loadConfig({}, {}).requestTimeoutMs).toBe(30_000);

    const file = await writeConfigFile({ requestTimeoutMs: 999 });
    const problems = problemsOf(() => loadConfig({ config: file }, {})).join('\n');
    expect(problems).toContain('requestTimeoutMs: must be >= 1000');
  });

  it('derives the idle timeout', async () => {
    expect(loadConfig({}, {}).idleTimeoutMs).toBe(120_000);

    const file = await writeConfigFile({ gateway: { upstreamTimeoutMs: 100_000 } });
    expect(loadConfig({ config: file }, {}).idleTimeoutMs).toBe(210_000);
  });

  it('keeps an explicit idle timeout', async () => {
    const file = await writeConfigFile({ idleTimeoutMs: 45_000 });
    expect(loadConfig({ config: file }, {}).idleTimeoutMs).toBe(45_000);
  });

  it('rejects an idle timeout below the upstream timeout', async () => {
    const file = await writeConfigFile({ idleTimeoutMs: 20_000, gateway: { upstreamTimeoutMs: 30_000 } });
    const problems = problemsOf(() => loadConfig({ config: file }, {})).join('\n');
    expect(problems).toContain('idleTimeoutMs: is 20000, shorter than gateway.upstreamTimeoutMs (30000)');
  });

  it('rejects unknown options', async () => {
    const file = await writeConfigFile({ rateLimit: { stroe: 'redis' } });
    const problems = problemsOf(() => loadConfig({ config: file }, {}));
    expect(problems.join('\n')).toContain("rateLimit: must NOT have additional properties 'stroe'");
  });

  it('rejects invalid YAML with its line', async () => {
    const file = await writeConfigFile('port: 8080\nrateLimit: [unclosed\n');
    const problems = problemsOf(() => loadConfig({ config: file }, {}));
    expect(problems.join('\n')).toMatch(/is not valid YAML at line \d+/);
  });

  it('rejects invalid YAML unquoted', async () => {
    const file = await writeConfigFile('port: 8080\nredis: [redis://:Config-Secret-6@127.0.0.1\n  a: b: c\n');
    const problems = problemsOf(() => loadConfig({ config: file }, {}));
    expect(problems.join('\n')).toMatch(/is not valid YAML at line \d+/);
    expect(problems.join('\n')).not.toContain('Config-Secret-6');
  });

  it('rejects prototype keys', async () => {
    const file = await writeConfigFile('__proto__:\n  polluted: true\nport: 8080\n');
    const problems = problemsOf(() => loadConfig({ config: file }, {}));
    expect(problems.join('\n')).toContain('__proto__: is not an allowed option name');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it.each([
    ['null', 'null'],
    ['a wildcard', '*'],
    ['a path', 'https://app.example/x'],
    ['a trailing slash', 'https://app.example/'],
  ])('rejects a CORS origin with %s', (_name, origin) => {
    const problems = problemsOf(() => loadConfig({ corsOrigins: [origin] }, {}));
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.join('\n')).toContain('corsOrigins/0');
  });

  it('rejects a malformed duration', async () => {
    const file = await writeConfigFile({ rateLimit: { login: { window: '15 minutes' } } });
    const problems = problemsOf(() => loadConfig({ config: file }, {})).join('\n');
    expect(problems).toContain('rateLimit/login/window: must be a duration: a whole number followed by ms, s, m, h or d, such as 500ms or 30s');
  });

  it('hints to quote YAML numbers', async () => {
    const file = await writeConfigFile('rateLimit:\n  trustedProxies: [10.1]\n');
    const problems = problemsOf(() => loadConfig({ config: file }, {})).join('\n');
    expect(problems).toContain('rateLimit/trustedProxies/0: must be string (the file gives the number 10.1; put the value in quotes to give it as text)');
  });

  it('describes every pattern in words', async () => {
    const { CONFIG_SCHEMA } = await import('../../src/config/schema.js');
    const undescribed: string[] = [];
    const visit = (node: unknown, path: string): void => {
      if (typeof node !== 'object' || node === null) {
        return;
      }
      const record = node as Record<string, unknown>;
      if (typeof record['pattern'] === 'string' && typeof record['description'] !== 'string') {
        undescribed.push(path);
      }
      for (const [key, child] of Object.entries(record)) {
        visit(child, `${path}/${key}`);
      }
    };
    visit(CONFIG_SCHEMA, '');
    expect(undescribed).toEqual([]);

    const problems = problemsOf(() => loadConfig({ corsOrigins: ['https://app.example/path'] }, {})).join('\n');
    expect(problems).toContain('(corsOrigins/0): must be an origin such as https://app.example');
    expect(problems).not.toContain('pattern');
  });

  it('bounds the API key rotation grace', async () => {
    const accepted = await writeConfigFile({ apiKeys: { rotationGrace: '90d' } });
    const tooLong = await writeConfigFile({ apiKeys: { rotationGrace: '91d' } });

    expect(loadConfig({ config: accepted }, {}).apiKeys.rotationGrace).toBe('90d');
    expect(problemsOf(() => loadConfig({ config: tooLong }, {}))).toContainEqual(expect.stringContaining('apiKeys/rotationGrace: must be at most 90d'));
  });

  it('keeps metrics off and audit events 90 days by default', () => {
    const config = loadConfig({}, {});
    expect(config.metrics).toEqual({ enabled: false, host: '127.0.0.1', port: 9464 });
    expect(config.audit.retention).toBe('90d');
  });

  it('rejects bad audit and metrics options', async () => {
    const file = await writeConfigFile({ audit: { retention: '10s' }, metrics: { enabled: 'yes', port: 70000 } });
    const problems = problemsOf(() => loadConfig({ config: file }, {})).join('\n');
    expect(problems).toContain('audit/retention');
    expect(problems).toContain('metrics/enabled');
    expect(problems).toContain('metrics/port');
  });

  it('rejects bad trusted proxies', async () => {
    const file = await writeConfigFile({ rateLimit: { trustedProxies: ['10.0.0.0/99', 'proxy.example', '192.0.2.1', '2001:db8::/32'] } });
    const problems = problemsOf(() => loadConfig({ config: file }, {}));
    expect(problems).toHaveLength(2);
    expect(problems.join('\n')).toContain("rateLimit/trustedProxies/0: '10.0.0.0/99'");
    expect(problems.join('\n')).toContain("rateLimit/trustedProxies/1: 'proxy.example'");
  });

  it('rejects catch-all trusted proxy ranges', async () => {
    // Each of these makes nearly every peer a trusted proxy, whose
    // X-Forwarded-For then names any client address it likes.
    const broad = ['0.0.0.0/0', '::/0', '0.0.0.0/1', '128.0.0.0/1', '2000::/3', '::ffff:0.0.0.0/96', '::ffff:0:0/100', '8.0.0.0/7'];
    const narrow = ['10.0.0.0/8', 'fc00::/7', '::ffff:10.0.0.0/104', '2001:db8::/32', '192.0.2.1'];
    const file = await writeConfigFile({ rateLimit: { trustedProxies: [...broad, ...narrow] } });
    const problems = problemsOf(() => loadConfig({ config: file }, {}));

    expect(problems).toHaveLength(broad.length);
    for (const [index, entry] of broad.entries()) {
      expect(problems[index]).toContain(`rateLimit/trustedProxies/${index}: '${entry}'`);
    }
  });

  it('rejects trusted proxies in legacy notation', async () => {
    const entries = ['127.1', '0x7f.0.0.1', '017.0.0.1', '2130706433', '10.1/16', '10.0.0.0/08', '::ffff:017.0.0.1', '192.0.2.1', '2001:db8::/32'];
    const file = await writeConfigFile({ rateLimit: { trustedProxies: entries } });
    const problems = problemsOf(() => loadConfig({ config: file }, {}));

    expect(problems).toHaveLength(7);
    for (const [index, entry] of entries.slice(0, 7).entries()) {
      expect(problems.join('\n')).toContain(`rateLimit/trustedProxies/${index}: '${entry}'`);
    }
  });

  it('rejects a mistyped port or issuer', async () => {
    for (const [key, value] of [['port', 'abc'], ['port', '18411'], ['port', 80.5], ['issuer', 5], ['issuer', true]] as const) {
      const file = await writeConfigFile({ [key]: value });
      const problems = problemsOf(() => loadConfig({ config: file }, {}));
      expect(problems, `${key}: ${String(value)}`).toHaveLength(1);
      expect(problems[0], `${key}: ${String(value)}`).toMatch(new RegExp(`^portcullis-config-.*\\.yaml: ${key}: must be`));
    }
  });

  it('rejects any mistyped top-level option', async () => {
    for (const [key, property] of Object.entries(CONFIG_SCHEMA.properties)) {
      const wrong = 'type' in property && property.type === 'object' ? 'text' : { nested: true };
      const file = await writeConfigFile({ [key]: wrong });
      const problems = problemsOf(() => loadConfig({ config: file }, {}));
      expect(problems.some((problem) => problem.startsWith(`${basename(file)}: ${key}: must be`)), `${key}: ${problems.join('; ')}`).toBe(true);
    }
  });

  it('rejects an empty data directory', async () => {
    expect(problemsOf(() => loadConfig({ dataDir: '' }, {}))).toEqual([
      "--data-dir: must not be empty; give the data directory's path, or omit the option to use ./data",
    ]);
    expect(problemsOf(() => loadConfig({}, { PORTCULLIS_DATA_DIR: '' }))).toEqual([
      "PORTCULLIS_DATA_DIR: must not be empty; give the data directory's path, or unset the variable to use ./data",
    ]);
    expect(loadConfig({ dataDir: 'elsewhere' }, { PORTCULLIS_DATA_DIR: '' }).dataDir).toBe(resolve('elsewhere'));

    const file = await writeConfigFile({ dataDir: '' });
    expect(problemsOf(() => loadConfig({ config: file }, {}))).toEqual([`${basename(file)}: dataDir: must NOT have fewer than 1 characters`]);
  });

  it('rejects port 0', async () => {
    expect(problemsOf(() => loadConfig({ port: 0 }, {}))).toEqual(['--port: must be >= 1']);
    expect(problemsOf(() => loadConfig({}, { PORTCULLIS_PORT: '0' }))).not.toEqual([]);

    const file = await writeConfigFile({ port: 0 });
    expect(problemsOf(() => loadConfig({ config: file }, {}))).toEqual([`${basename(file)}: port: must be >= 1`]);
  });

  it('blames flags and variables, not the file', async () => {
    const file = await writeConfigFile('');
    const allowed = 'fatal, error, warn, info, debug, trace, silent';
    expect(problemsOf(() => loadConfig({ config: file, logLevel: 'bogus' }, {}))).toEqual([`--log-level: must be equal to one of the allowed values: ${allowed}`]);
    expect(problemsOf(() => loadConfig({ config: file }, { PORTCULLIS_LOG_LEVEL: 'bogus' }))).toEqual([
      `PORTCULLIS_LOG_LEVEL: must be equal to one of the allowed values: ${allowed}`,
    ]);

    const upstreams = await writeConfigFile({ gateway: { upstreams: [{ name: 'a', url: 'http://127.0.0.1:9', mountPath: '/a' }] } });
    const problems = problemsOf(() => loadConfig({ config: upstreams }, { PORTCULLIS_UPSTREAM_URL: 'http://127.0.0.1:9' }));
    expect(problems).toContain('PORTCULLIS_UPSTREAM_URL: cannot be combined with gateway/upstreams; set the url on an entry of gateway/upstreams instead');
  });

  it('rejects a port that is not a number', () => {
    const problems = problemsOf(() => loadConfig({}, { PORTCULLIS_PORT: 'eighty' }));
    expect(problems).toContain("PORTCULLIS_PORT: must be a whole number, got 'eighty'");
  });
});

describe('issuer rules', () => {
  it('rejects an issuer with a path or query', () => {
    expect(problemsOf(() => loadConfig({ issuer: 'https://auth.example.com/tenant' }, {})).join('\n')).toContain('issuer: must have no path');
    expect(problemsOf(() => loadConfig({ issuer: 'https://auth.example.com/?x=1' }, {})).join('\n')).toContain('issuer: must not contain a query');
    expect(loadConfig({ issuer: 'https://auth.example.com/' }, {}).issuer).toBe('https://auth.example.com');
  });

  it('rejects the demo off without an upstream', () => {
    const problems = problemsOf(() => loadConfig({}, { PORTCULLIS_DEMO: 'false' }));

    expect(problems.join('\n')).toContain('gateway/upstreams/0: has no url, so it is the demo Orders API, which demo: false turns off');
  });

  it('accepts the demo off with an upstream', () => {
    const config = loadConfig({}, { PORTCULLIS_DEMO: 'false', PORTCULLIS_UPSTREAM_URL: 'http://127.0.0.1:3000' });

    expect(config.demo).toBe(false);
    expect(config.gateway.upstreams[0]?.url).toBe('http://127.0.0.1:3000');
  });
});

describe('backend URL checks', () => {
  it('names an unparsable database URL', () => {
    for (const url of ['postgres://user:hunter2@db.example.com:99999/portcullis', 'postgres://user:hunter2@[::1/portcullis']) {
      const problems = problemsOf(() => loadConfig({ databaseUrl: url }, {}));
      expect(problems, url).toHaveLength(1);
      expect(problems[0], url).toMatch(/^--database-url: is not a valid PostgreSQL URL/);
      expect(problems[0], url).not.toContain('hunter2');
    }
  });

  it('names an unparsable Redis URL', () => {
    const problems = problemsOf(() => loadConfig({}, { PORTCULLIS_REDIS_URL: 'redis://:hunter2@[::1:6379' }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^PORTCULLIS_REDIS_URL: is not a valid Redis URL/);
    expect(problems[0]).not.toContain('hunter2');
  });
});

describe('config file option', () => {
  it('rejects an empty --config', () => {
    expect(problemsOf(() => loadConfig({ config: '' }, {}))).toEqual([
      "--config: must not be empty; give the config file's path, or omit the option to use no config file",
    ]);
  });

  it('names a missing config file', () => {
    const path = resolve('no-such-portcullis.yaml');
    expect(problemsOf(() => loadConfig({}, { PORTCULLIS_CONFIG: path }))).toEqual([
      `PORTCULLIS_CONFIG: config file ${path} does not exist; check the path`,
    ]);
  });

  it('rejects a Redis Cluster without a Redis URL', () => {
    const problems = problemsOf(() => loadConfig({ redisCluster: true }, {}));

    expect(problems.join('\n')).toContain('--redis-cluster: treats the Redis URL as a seed node of a cluster, but no Redis URL is set');
  });

  it('reports a bad Redis URL once', () => {
    const problems = problemsOf(() => loadConfig({ redisUrl: 'http://127.0.0.1:6379' }, {}));

    expect(problems.filter((problem) => problem.includes('redis'))).toHaveLength(1);
    expect(problems[0]).toContain('--redis-url');
  });

  it('rejects the metrics listener on the server port', async () => {
    const file = await writeConfigFile({ metrics: { enabled: true, port: 9000 } });

    const problems = problemsOf(() => loadConfig({ config: file, port: 9000 }, {}));

    expect(problems.join('\n')).toContain('metrics/port: is also the port of the server');
  });
});
