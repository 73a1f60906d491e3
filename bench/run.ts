/**
 * Measures gateway throughput for the same GET of a page with one JSON order.
 * The request goes directly to a node:http upstream, through a bare
 * node:http proxy (without and with jose JWT verification) and through
 * typical Express and Fastify gateways. It also goes through Portcullis with
 * one JWT, with many JWTs in rotation, with its token cache off, with
 * OpenAPI validation off, with an API key and with its rate limiter on Redis.
 *
 * Usage: npm run bench [-- --seconds 10 --rounds 3 --connections 50 --warmup 2
 *                          --tokens 1000 --redis redis://127.0.0.1:6379
 *                          --output BENCHMARKS.md --profile <directory>
 *                          --node-options "<options>" --log-dir <directory>]
 *
 * Every server runs in a child process pinned to core 1 and the load
 * generator (wrk, or autocannon when wrk is missing) to core 0, when taskset
 * works. Every request carries a valid credential and every rate limit is
 * far above the load, so each scenario does the same work. Rounds run
 * scenario after scenario, so slow drift of the machine spreads over all of
 * them; each row reports the median of its rounds.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';

import { selectLoadGenerator, type LoadGenerator } from './lib/load.js';
import { ORDER_BODY, ORDER_BYTES } from './lib/order.js';
import { buildPortcullis, obtainCredentials, startBenchPortcullis, type BenchCredentials, type StartedPortcullis } from './lib/portcullis.js';
import { log, positiveInteger, readCommandLine, runBenchmarkCommand } from './lib/command.js';
import { roundOrder } from './lib/rounds.js';
import { canPinCores, startProcess, waitForPort, type ManagedProcess } from './lib/processes.js';
import { cpuPerRequest, cpuReading } from './lib/cpu-time.js';
import { referenceScenarios, renderCpuTable, renderErrors, renderRatioTable, renderTable, replaceSection, summarize, type RoundResult } from './lib/report.js';
import { idleMemoryLine, readingOf } from './lib/targets.js';
import { BENCH_ORIGIN } from './lib/server-env.js';

const HELP = `Usage: npm run bench [-- options]

  --seconds <n>      duration of each measurement, in seconds (default 10)
  --rounds <n>       measurements per scenario; the table shows their median (default 3)
  --connections <n>  open connections of the load generator (default 50)
  --warmup <n>       unmeasured load per scenario before the first round, in seconds (default 2)
  --tokens <n>       distinct access tokens of the rotation scenario (default 1000)
  --redis <url>      Redis for the Portcullis Redis scenario (default redis://127.0.0.1:6379)
  --output <file>    markdown file whose "## Gateway throughput" section is replaced (default BENCHMARKS.md)
  --profile <dir>    write a V8 CPU profile of each Portcullis instance to this directory on exit
  --node-options <s> Node.js or V8 options for every Portcullis instance, separated by spaces
                     (for example --node-options="--trace-gc --max-semi-space-size=32")
  --log-dir <dir>    write the output of each Portcullis instance to this directory
  --only <ids>       measure only these scenarios (for example 5a,6) besides 1 and 2a, and
                     print the table without writing the output file
`;

const SECTION_HEADING = '## Gateway throughput';
/** How long a server may take to start listening, in milliseconds. */
const START_TIMEOUT_MS = 60_000;
/** When the resident set size of the idle Portcullis is read, in milliseconds after it started listening. */
const IDLE_READINGS_MS = { early: 3000, settled: 60_000 };
const REPOSITORY_ROOT = resolve(import.meta.dirname, '..');
const COMPARED_PACKAGES = [
  'jose',
  'express',
  'helmet',
  'cors',
  'express-rate-limit',
  'http-proxy-middleware',
  'fastify',
  '@fastify/helmet',
  '@fastify/cors',
  '@fastify/rate-limit',
  '@fastify/reply-from',
];

interface Options {
  seconds: number;
  rounds: number;
  connections: number;
  warmup: number;
  tokens: number;
  redisUrl: string;
  output: string;
  profileDirectory: string | undefined;
  /** Node.js or V8 options put before the CLI of every Portcullis instance. */
  nodeOptions: string[];
  /** Directory for the output of every Portcullis instance, or undefined for none. */
  logDirectory: string | undefined;
  /** Scenario ids to measure, or undefined for all of them. */
  only: Set<string> | undefined;
}

function readOptions(): Options {
  const values = readCommandLine(
    HELP,
    {
      seconds: { type: 'string', default: '10' },
      rounds: { type: 'string', default: '3' },
      connections: { type: 'string', default: '50' },
      warmup: { type: 'string', default: '2' },
      tokens: { type: 'string', default: '1000' },
      profile: { type: 'string' },
      'node-options': { type: 'string', default: '' },
      'log-dir': { type: 'string' },
      redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
      only: { type: 'string' },
    },
    join(REPOSITORY_ROOT, 'BENCHMARKS.md'),
  );
  return {
    seconds: positiveInteger('seconds', values.seconds, 1),
    rounds: positiveInteger('rounds', values.rounds, 1),
    connections: positiveInteger('connections', values.connections, 1),
    warmup: positiveInteger('warmup', values.warmup, 0),
    tokens: positiveInteger('tokens', values.tokens, 1),
    redisUrl: values.redis,
    output: resolve(values.output),
    profileDirectory: values.profile === undefined ? undefined : resolve(values.profile),
    nodeOptions: values['node-options'].split(/\s+/).filter((option) => option !== ''),
    logDirectory: values['log-dir'] === undefined ? undefined : resolve(values['log-dir']),
    only: values.only === undefined ? undefined : new Set(values.only.split(',').map((id) => id.trim())),
  };
}

interface Scenario {
  label: string;
  url: string;
  headers: Record<string, string>;
  /** Header sets sent in turn instead of `headers`. */
  rotatingHeaders?: Record<string, string>[];
  /** True when the stack applies a CORS policy, so the response must allow the benchmark origin. */
  cors: boolean;
  /** True when `url` is the upstream itself. */
  direct: boolean;
  /** The process that serves `url`. */
  serverPid: number | undefined;
  /** The upstream process behind the server, or undefined when the server is the upstream. */
  upstreamPid: number | undefined;
}

/** Cores of the load generator and of the servers, or undefined for both when pinning is not possible. */
interface CorePlan {
  load: number | undefined;
  servers: number | undefined;
}

function nodeServer(name: string, script: string, cores: CorePlan, env: NodeJS.ProcessEnv): ManagedProcess {
  return startProcess({
    name,
    command: process.execPath,
    args: ['--import', 'tsx', join(REPOSITORY_ROOT, script)],
    env: { ...process.env, NODE_ENV: 'production', ...env },
    core: cores.servers,
  });
}

/** A server process of the benchmark: its base URL and process id. */
interface BenchServer {
  url: string;
  pid: number | undefined;
}

async function startNodeServer(name: string, script: string, cores: CorePlan, env: NodeJS.ProcessEnv): Promise<BenchServer> {
  const managed = nodeServer(name, script, cores, env);
  const port = await waitForPort(managed, START_TIMEOUT_MS);
  return { url: `http://127.0.0.1:${port}`, pid: managed.child.pid };
}

/** Sends one request of a scenario and throws unless it returns the upstream's order and the expected CORS header. */
async function checkScenario(scenario: Scenario): Promise<void> {
  const response = await fetch(scenario.url, { headers: scenario.headers });
  const body = await response.text();
  if (response.status !== 200 || body !== ORDER_BODY) {
    throw new Error(`${scenario.label}: expected the upstream's order with HTTP 200 from ${scenario.url}, got HTTP ${response.status}: ${body.slice(0, 300)}`);
  }
  const allowedOrigin = response.headers.get('access-control-allow-origin');
  if (scenario.cors && allowedOrigin !== BENCH_ORIGIN) {
    throw new Error(`${scenario.label}: expected Access-Control-Allow-Origin ${BENCH_ORIGIN}, got ${allowedOrigin ?? 'none'}`);
  }
}

async function redisServerVersion(redisUrl: string): Promise<string> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000 });
  try {
    await redis.connect();
    const info = await redis.info('server');
    return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  } catch (error) {
    throw new Error(`Redis at ${redisUrl} is not reachable (${(error as Error).message}); start it or pass --redis <url>`);
  } finally {
    redis.disconnect();
  }
}

async function packageVersion(name: string): Promise<string> {
  const manifest = JSON.parse(await readFile(join(REPOSITORY_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string };
  return manifest.version;
}

function buildScenarios(servers: Record<string, BenchServer>, credentials: BenchCredentials): Scenario[] {
  const upstream = servers['upstream']!;
  const at = (name: string, path: string) => {
    const server = servers[name]!;
    const direct = server === upstream;
    return { url: `${server.url}${path}`, direct, serverPid: server.pid, upstreamPid: direct ? undefined : upstream.pid };
  };
  const bearer = { origin: BENCH_ORIGIN, authorization: `Bearer ${credentials.accessToken}` };
  const apiKey = { origin: BENCH_ORIGIN, 'x-api-key': credentials.apiKey };
  const rotating = credentials.rotatingTokens.map((token) => ({ origin: BENCH_ORIGIN, authorization: `Bearer ${token}` }));
  return [
    { label: '1. direct to the upstream', ...at('upstream', '/orders'), headers: bearer, cors: false },
    { label: '2a. bare node:http proxy, no checks', ...at('bare', '/api/orders'), headers: bearer, cors: false },
    { label: '2b. bare node:http proxy + jose JWT', ...at('bareJwt', '/api/orders'), headers: bearer, cors: false },
    { label: '2c. bare node:http server forwarding through an undici pool, no checks', ...at('bareUndici', '/api/orders'), headers: bearer, cors: false },
    { label: '3. Express + helmet + cors + express-rate-limit + jose + http-proxy-middleware', ...at('express', '/api/orders'), headers: bearer, cors: true },
    { label: '4. Fastify + helmet + cors + rate-limit + reply-from + jose', ...at('fastify', '/api/orders'), headers: bearer, cors: true },
    { label: '5a. Portcullis, JWT, memory rate limit', ...at('portcullis', '/api/orders'), headers: bearer, cors: true },
    {
      label: `5b. Portcullis, ${rotating.length.toLocaleString('en-US')} distinct JWTs in rotation`,
      ...at('portcullis', '/api/orders'),
      headers: bearer,
      rotatingHeaders: rotating,
      cors: true,
    },
    { label: '5c. Portcullis, JWT, token cache off', ...at('portcullisNoCache', '/api/orders'), headers: bearer, cors: true },
    { label: '5d. Portcullis, JWT, OpenAPI validation off', ...at('portcullisNoValidation', '/api/orders'), headers: bearer, cors: true },
    { label: '5e. Portcullis, JWT, identity assertion off', ...at('portcullisUnsigned', '/api/orders'), headers: bearer, cors: true },
    { label: '5f. Portcullis, JWT, response checks off', ...at('portcullisUnchecked', '/api/orders'), headers: bearer, cors: true },
    { label: '5g. Portcullis, JWT, identity assertion and response checks off', ...at('portcullisComparable', '/api/orders'), headers: bearer, cors: true },
    { label: '6. Portcullis, API key, memory rate limit', ...at('portcullis', '/api/orders'), headers: apiKey, cors: true },
    { label: '7. Portcullis, JWT, Redis rate limit', ...at('portcullisRedis', '/api/orders'), headers: bearer, cors: true },
  ];
}

async function measure(options: Options, directory: string): Promise<void> {
  const pin = availableParallelism() >= 2 && canPinCores();
  const cores: CorePlan = pin ? { load: 0, servers: 1 } : { load: undefined, servers: undefined };
  const generator: LoadGenerator = selectLoadGenerator();
  const redisVersion = await redisServerVersion(options.redisUrl);
  log(`load generator: ${generator.description}; ${pin ? 'load on core 0, servers on core 1' : 'taskset unavailable, no core pinning'}`);

  if (options.logDirectory !== undefined) {
    await mkdir(options.logDirectory, { recursive: true });
  }
  log('building Portcullis (npm run build), so that it runs as in production');
  await buildPortcullis(REPOSITORY_ROOT);

  const upstream = await startNodeServer('upstream', 'bench/servers/upstream.ts', cores, {});
  const upstreamUrl = upstream.url;
  const dataDir = join(directory, 'data');
  const common = { cores: cores.servers, directory, dataDir, upstreamUrl, profileDirectory: options.profileDirectory, nodeOptions: options.nodeOptions, logDirectory: options.logDirectory, startTimeoutMs: START_TIMEOUT_MS };
  const variant = { store: 'memory', redisUrl: options.redisUrl, tokenCache: true, validateRequests: true, identityAssertion: true, checkResponses: true } as const;
  // Tokens come from an instance of their own, so that the measured
  // instances differ only in their configuration. The one that ran a
  // thousand sign-ins would otherwise carry their heap and JIT state.
  const issuing = await startBenchPortcullis({ ...common, variant: { ...variant, name: 'issuer' } });
  const portcullis = await startBenchPortcullis({ ...common, issuer: issuing.issuer, variant: { ...variant, name: 'memory' } });
  const listeningAt = Date.now();
  await sleepUntil(listeningAt + IDLE_READINGS_MS.early);
  const earlyRss = portcullis.residentSetSize();

  // The other instances start while the first one stays idle, until V8's
  // memory reducer has run on it (about 40 s after start on these machines).
  const started: Record<string, StartedPortcullis> = {
    portcullisNoCache: await startBenchPortcullis({ ...common, issuer: issuing.issuer, variant: { ...variant, name: 'no-cache', tokenCache: false } }),
    portcullisNoValidation: await startBenchPortcullis({
      ...common,
      issuer: issuing.issuer,
      variant: { ...variant, name: 'no-validation', validateRequests: false },
    }),
    portcullisRedis: await startBenchPortcullis({ ...common, issuer: issuing.issuer, variant: { ...variant, name: 'redis', store: 'redis' } }),
    portcullisUnsigned: await startBenchPortcullis({
      ...common,
      issuer: issuing.issuer,
      variant: { ...variant, name: 'unsigned', identityAssertion: false },
    }),
    portcullisUnchecked: await startBenchPortcullis({
      ...common,
      issuer: issuing.issuer,
      variant: { ...variant, name: 'unchecked', checkResponses: false },
    }),
    portcullisComparable: await startBenchPortcullis({
      ...common,
      issuer: issuing.issuer,
      variant: { ...variant, name: 'comparable', identityAssertion: false, checkResponses: false },
    }),
  };
  await sleepUntil(listeningAt + IDLE_READINGS_MS.settled);
  const settledRss = portcullis.residentSetSize();

  log(`tokens: obtaining ${options.tokens + 1} access tokens through the authorization code flow`);
  const credentials = await obtainCredentials(issuing.issuer, dataDir, options.tokens);

  const verificationEnv = {
    BENCH_UPSTREAM_URL: upstreamUrl,
    BENCH_JWKS: JSON.stringify(credentials.jwks),
    BENCH_ISSUER: issuing.issuer,
    BENCH_AUDIENCE: `${issuing.issuer}/api`,
  };
  const servers: Record<string, BenchServer> = {
    upstream,
    portcullis: { url: portcullis.url, pid: portcullis.pid },
    ...Object.fromEntries(Object.entries(started).map(([name, instance]) => [name, { url: instance.url, pid: instance.pid }])),
    bare: await startNodeServer('bare proxy', 'bench/servers/bare-proxy.ts', cores, { BENCH_UPSTREAM_URL: upstreamUrl }),
    bareJwt: await startNodeServer('bare proxy with JWT', 'bench/servers/bare-proxy.ts', cores, { ...verificationEnv, BENCH_VERIFY_JWT: '1' }),
    bareUndici: await startNodeServer('bare proxy on undici', 'bench/servers/bare-proxy.ts', cores, { BENCH_UPSTREAM_URL: upstreamUrl, BENCH_CLIENT: 'undici' }),
    express: await startNodeServer('Express stack', 'bench/servers/express-stack.ts', cores, verificationEnv),
    fastify: await startNodeServer('Fastify stack', 'bench/servers/fastify-stack.ts', cores, verificationEnv),
  };

  // The direct and bare proxy scenarios stay in every run: the ratios are relative to them.
  const scenarios = buildScenarios(servers, credentials).filter((scenario) => {
    const id = scenario.label.slice(0, scenario.label.indexOf('.'));
    return options.only === undefined || id === '1' || id === '2a' || options.only.has(id);
  });
  for (const scenario of scenarios) {
    await checkScenario(scenario);
  }

  const load = (scenario: Scenario, seconds: number) =>
    generator.run({
      url: scenario.url,
      headers: scenario.headers,
      rotatingHeaders: scenario.rotatingHeaders,
      seconds,
      connections: options.connections,
      core: cores.load,
    });

  if (options.warmup > 0) {
    for (const scenario of scenarios) {
      log(`warm-up: ${scenario.label}`);
      await load(scenario, options.warmup);
    }
  }

  const loadBefore = loadAverage();
  const rounds: RoundResult[][] = scenarios.map(() => []);
  for (let round = 1; round <= options.rounds; round += 1) {
    for (const index of roundOrder(scenarios.length, round, options.rounds)) {
      const scenario = scenarios[index]!;
      const pids = [scenario.serverPid, scenario.upstreamPid];
      const before = cpuReading(pids);
      const result = await load(scenario, options.seconds);
      const [serverCpu, upstreamCpu] = cpuPerRequest(before, cpuReading(pids), result.requests);
      rounds[index]!.push({ ...result, serverCpuMicroseconds: serverCpu, upstreamCpuMicroseconds: upstreamCpu });
      log(`round ${round}/${options.rounds}: ${scenario.label}: ${result.requestsPerSecond.toFixed(0)} requests/s, server CPU ${serverCpu?.toFixed(0) ?? 'n/a'} µs per request`);
    }
  }

  const loadAfter = loadAverage();
  const summaries = scenarios.map((scenario, index) => summarize(scenario.label, rounds[index]!, scenario.direct));
  const table = renderTable(summaries, summaries[0]!, summaries[1]!);
  const ratios = renderRatioTable(summaries, referenceScenarios(summaries));
  const cpuTable = renderCpuTable(summaries, summaries[1]!);
  const errors = renderErrors(summaries);
  process.stdout.write(`\n${table}\n\n${ratios}\n\n${cpuTable}\n`);
  if (errors !== '') {
    process.stdout.write(`\nErrors during the measurement:\n${errors}\n`);
  }
  if (options.only !== undefined) {
    log(`\nmeasured only some scenarios, so ${options.output} is unchanged`);
    return;
  }

  const versions = await Promise.all(COMPARED_PACKAGES.map(async (name) => `${name} ${await packageVersion(name)}`));
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const section = [
    SECTION_HEADING,
    '',
    `Command: \`${command}\`, measured ${new Date().toISOString().slice(0, 10)}.`,
    `Each scenario ran ${options.rounds} rounds of ${options.seconds} s with ${options.connections} connections, after ${options.warmup} s of warm-up;`,
    'every round measured all scenarios one after the other, each round starting further down the list, and each cell is the median of the rounds.',
    '"spread of rounds" is (max − min) / median of requests/s over the rounds.',
    '',
    'Every request is `GET /api/orders` (`GET /orders` for the direct scenario) with an `Origin` header',
    'and a valid credential: the same ES256 access token from Portcullis\'s authorization code flow,',
    `${options.tokens.toLocaleString('en-US')} further tokens of the same grant sent in turn by every connection in scenario 5b,`,
    `or an \`orders:read\` API key in scenario 6. The upstream is a node:http server returning a ${ORDER_BYTES}-byte`,
    'page of one JSON order. Every rate limit is far above the load, so no request is refused and all scenarios do',
    'the same work. The comparison stacks verify the token with jose against Portcullis\'s JWK Set',
    '(issuer, audience, `typ`, ES256, scope), and all of them reuse upstream connections. Portcullis',
    'also checks that the token\'s grant is not revoked (an SQLite read, reused for up to 1 s as',
    '`gateway.revocationCheckTtlMs` sets by default, also in 5c, whose token cache off makes every request',
    'check the signature), validates the request against the demo OpenAPI document (off in 5d),',
    'checks and filters the response against the same document (off in 5f, whose responses declare no schema),',
    'signs an Ed25519 identity assertion for the upstream (off in 5e),',
    'applies its per-address limit, CORS and security headers, and runs from the compiled `dist/`',
    'with request logging off (log level `warn`), since the comparison stacks log nothing.',
    'No comparison stack checks responses or signs assertions. With both off, 5g makes the checks of',
    'the Express and Fastify stacks plus the revocation check and request validation.',
    '',
    `Machine: ${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), Node.js ${process.version}, ${generator.description}`,
    pin
      ? 'pinned to core 0, every server (the upstream too) pinned to core 1,'
      : 'without core pinning (taskset unavailable),',
    `Redis ${redisVersion} on the same machine over loopback (not pinned).`,
    `Libraries: ${versions.join(', ')}.`,
    `Load average (1 min) of the machine: ${loadBefore} before the rounds, ${loadAfter} after them.`,
    '',
    table,
    '',
    'Each figure divided by the same figure of the direct scenario (1), the bare proxy (2a) and the bare',
    'verifying proxy (2b). For p50 and p99, a ratio above 1 means slower than that scenario.',
    '',
    ratios,
    '',
    'CPU time per request, the median of the rounds: the user and system time that each server process',
    '(all its threads) used during a round, from /proc, divided by the requests of that round. It shows',
    'how a scenario\'s time splits between the gateway or proxy and the upstream. With both on one core,',
    'the requests/s follow from their total, so the last column, the bare proxy\'s total divided by the',
    'scenario\'s, comes close to the requests/s ratio to the bare proxy when core 1 was the limit.',
    '',
    cpuTable,
    '',
    ...(errors === '' ? [] : ['Errors during the measurement:', '', errors, '']),
    readingOf(summaries),
    '',
    idleMemoryLine([
      { afterMs: IDLE_READINGS_MS.early, bytes: earlyRss },
      { afterMs: IDLE_READINGS_MS.settled, bytes: settledRss },
    ]),
  ].join('\n');
  await replaceSection(options.output, SECTION_HEADING, section);
  log(`\nwrote the "${SECTION_HEADING}" section of ${options.output}`);
}

async function sleepUntil(time: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, time - Date.now())));
}

function loadAverage(): string {
  return loadavg()[0]!.toFixed(2);
}

void runBenchmarkCommand('benchmark', readOptions, measure);
