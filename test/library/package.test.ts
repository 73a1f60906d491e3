import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { callApi, obtainTokens } from '../support/oauth.js';
import { freePort, startTestServer, type TestServer } from '../support/server.js';

const run = promisify(execFile);
const REPOSITORY = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** How long packing (which builds dist/) may take on a busy machine, in milliseconds. */
const PACK_TIMEOUT_MS = 240_000;

const CONSUMER_SOURCE = `
import Fastify from 'fastify';
import { Authenticator, checkOwnership, corsOptions, createRateLimiter, ProblemError, type Identity, type KeySetLog, type OwnershipResult } from 'portcullis';
import { identityOf, portcullis } from 'portcullis/fastify';
import { portcullis as expressPortcullis, problemHandler, type Middleware } from 'portcullis/express';

const caller: Identity = { subject: 'alice', scopes: ['orders:read'], roles: [], clientId: 'app', credential: 'jwt' };
const result: OwnershipResult<{ owner: string }> = await checkOwnership(caller, () => ({ owner: 'alice' }), (order) => order.owner);
if (result.outcome === 'owned') {
  const owner: string = result.resource.owner;
  console.log(owner);
}

const app = Fastify();
await app.register(portcullis, {
  identityAssertions: { issuer: 'https://id.example.com', audience: 'https://id.example.com/api', jwksUrl: 'https://id.example.com/jwks' },
  rateLimit: { limiter: createRateLimiter(), limits: [{ name: 'per-user', key: ['sub'], limit: 5, period: '1s', onStoreFailure: 'open' }] },
});
app.get('/orders', { config: { portcullis: { scopes: ['orders:read'] } } }, async (request) => identityOf(request).subject);
// @ts-expect-error scopes are strings
app.get('/wrong', { config: { portcullis: { scopes: [1] } } }, async () => 'never');

const keySetLog: KeySetLog = { warn: (details, message) => console.warn(message, details) };
console.log(new Authenticator({ accessTokens: { issuer: 'https://id.example.com', audience: 'x', jwksUrl: 'https://id.example.com/jwks' } }, keySetLog));

const middleware: Middleware = expressPortcullis({ accessTokens: { issuer: 'https://id.example.com', audience: 'x', jwksUrl: 'https://id.example.com/jwks' } });
console.log(typeof middleware, typeof problemHandler(), corsOptions({ origins: ['https://app.example.com'] }).credentials);
throw new ProblemError('not_found', 'compiles');
`;

/** Unpacks the tarball as node_modules/portcullis of a new project, with the repository's dependencies. */
async function createConsumer(root: string, tarball: string): Promise<string> {
  const consumer = join(root, 'consumer');
  const installed = join(consumer, 'node_modules', 'portcullis');
  await mkdir(installed, { recursive: true });
  await run('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1']);

  // The package's dependencies come from the repository, so no registry is needed.
  await symlink(join(REPOSITORY, 'node_modules'), join(installed, 'node_modules'), 'dir');
  await symlink(join(REPOSITORY, 'node_modules', 'fastify'), join(consumer, 'node_modules', 'fastify'), 'dir');
  await symlink(join(REPOSITORY, 'node_modules', '@types'), join(consumer, 'node_modules', '@types'), 'dir');

  await writeFile(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  await writeFile(
    join(consumer, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: ['node'] },
      files: ['index.ts'],
    }),
  );
  await writeFile(join(consumer, 'index.ts'), CONSUMER_SOURCE);
  return consumer;
}

/**
 * Copies the Express example into `directory`, where `express` resolves to
 * the Express 4 that the repository installs as `express4`.
 */
async function expressFourExample(directory: string): Promise<string> {
  await mkdir(join(directory, 'node_modules'), { recursive: true });
  await symlink(join(REPOSITORY, 'node_modules', 'express4'), join(directory, 'node_modules', 'express'), 'dir');
  await symlink(REPOSITORY, join(directory, 'node_modules', 'portcullis'), 'dir');
  await writeFile(join(directory, 'package.json'), JSON.stringify({ name: 'express-4-example', private: true, type: 'module' }));
  await copyFile(join(REPOSITORY, 'examples', 'express.js'), join(directory, 'express.js'));
  return join(directory, 'express.js');
}

/** Starts an example with `node`, and returns it and the URL it prints once it listens. */
async function startExample(name: string, issuer: string, file = join(REPOSITORY, 'examples', `${name}.js`)): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [file], {
    cwd: REPOSITORY,
    env: { ...process.env, PORT: '0', PORTCULLIS_ISSUER: issuer },
    stdio: ['ignore', 'pipe', 'inherit'],
  });

  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`examples/${name}.js did not print its URL within 20 seconds`)), 20_000);
    child.once('exit', (code) => reject(new Error(`examples/${name}.js exited with code ${code}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const parsed = JSON.parse(line) as { msg?: string; url?: string };
      if (parsed.msg === 'orders service listening' && parsed.url !== undefined) {
        clearTimeout(timer);
        resolveUrl(parsed.url);
      }
    });
  });

  return { child, url };
}

async function stopExample(child: ChildProcess): Promise<void> {
  if (child.exitCode === null) {
    const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
    child.kill('SIGTERM');
    await exited;
  }
}

let workDir: string;
let tarball: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'portcullis-pack-'));
  // npm pack runs the prepare script, which builds dist/ for the examples too.
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', workDir], {
    cwd: REPOSITORY,
    env: { ...process.env, npm_config_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false' },
    maxBuffer: 16 * 1024 * 1024,
  });
  const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = join(workDir, (packed as { filename: string }).filename);
}, PACK_TIMEOUT_MS);

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe('packed package', () => {
  it('compiles a TypeScript consumer', async () => {
    const consumer = await createConsumer(workDir, tarball);

    const compiled = await run(process.execPath, [join(REPOSITORY, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', consumer]).then(
      () => '',
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
    expect(compiled).toBe('');
  }, 120_000);

  // With moduleResolution node10, the default of module commonjs, TypeScript
  // reads no exports map, and found no types for portcullis/fastify or
  // portcullis/express, although Node.js 20.19 can require them.
  it('compiles a CommonJS TypeScript consumer', async () => {
    const consumer = await createConsumer(join(workDir, 'commonjs'), tarball);
    await writeFile(join(consumer, 'package.json'), JSON.stringify({ name: 'commonjs-consumer', private: true }));
    await writeFile(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'commonjs', strict: true, esModuleInterop: true, noEmit: true, types: ['node'] }, files: ['index.ts'] }),
    );
    await writeFile(
      join(consumer, 'index.ts'),
      `import { createRateLimiter, type Identity } from 'portcullis';
import { identityOf, portcullis } from 'portcullis/fastify';
import { problemHandler } from 'portcullis/express';

const caller: Identity = { subject: 'alice', scopes: [], roles: [], clientId: 'app', credential: 'jwt' };
console.log(caller, createRateLimiter(), identityOf, portcullis, problemHandler());
`,
    );

    const compiled = await run(process.execPath, [join(REPOSITORY, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', consumer]).then(
      () => '',
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
    expect(compiled).toBe('');
  }, 120_000);

  it('contains only the build and docs', async () => {
    const { stdout } = await run('tar', ['-tzf', tarball]);
    const files = stdout.trim().split('\n');

    expect(files).toContain('package/dist/library/index.js');
    expect(files).toContain('package/dist/library/index.d.ts');
    expect(files).toContain('package/dist/library/express.d.ts');
    expect(files).toContain('package/dist/library/fastify.d.ts');
    expect(files.filter((file) => file.startsWith('package/src/') || file.startsWith('package/test/'))).toEqual([]);
    expect(files.filter((file) => file.endsWith('.map'))).toEqual([]);
  });
});

describe.each([
  { name: 'express', variant: 'Express 5' },
  { name: 'express', variant: 'Express 4' },
  { name: 'fastify', variant: 'Fastify' },
])('examples/$name.js with $variant', ({ name, variant }) => {
  let server: TestServer;
  let example: { child: ChildProcess; url: string };
  let aliceToken: string;
  let bobToken: string;

  beforeAll(async () => {
    // The example needs the issuer before Portcullis starts, and Portcullis
    // needs the example's URL as its upstream.
    const port = await freePort();
    const file = variant === 'Express 4' ? await expressFourExample(join(workDir, 'express-4')) : undefined;
    example = await startExample(name, `http://127.0.0.1:${port}`, file);
    server = await startTestServer({ port, upstreamUrl: example.url });

    aliceToken = (await obtainTokens(server, await createUser(server, `${name}_alice`))).tokens.access_token;
    bobToken = (await obtainTokens(server, await createUser(server, `${name}_bob`))).tokens.access_token;
  }, 90_000);

  afterAll(async () => {
    await server?.close();
    if (example !== undefined) {
      await stopExample(example.child);
    }
  });

  function direct(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${example.url}${path}`, init);
  }

  it('serves the gateway with signed identity', async () => {
    const created = await callApi(server, '/orders', aliceToken, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ item: 'rope', quantity: 2 }),
    });
    expect(created.status).toBe(201);
    const order = (await created.json()) as { id: string; owner: string };
    expect(order.owner).not.toBe('');

    const read = await callApi(server, `/orders/${order.id}`, aliceToken);
    expect(read.status).toBe(200);
    expect(((await read.json()) as { id: string }).id).toBe(order.id);

    const foreign = await callApi(server, `/orders/${order.id}`, bobToken);
    expect(foreign.status).toBe(404);
  });

  it('accepts access tokens sent directly', async () => {
    const created = await direct('/orders', {
      method: 'POST',
      headers: { authorization: `Bearer ${aliceToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ item: 'nails', quantity: 1 }),
    });
    expect(created.status).toBe(201);
    const order = (await created.json()) as { id: string };

    const foreign = await direct(`/orders/${order.id}`, { headers: { authorization: `Bearer ${bobToken}` } });
    const missing = await direct('/orders/00000000-0000-4000-8000-000000000000', { headers: { authorization: `Bearer ${bobToken}` } });
    expect(foreign.status).toBe(404);
    expect(missing.status).toBe(404);
    const foreignBody = (await foreign.json()) as { detail: string };
    const missingBody = (await missing.json()) as { detail: string };
    expect(foreignBody.detail.replace(order.id, '<id>')).toBe(missingBody.detail.replace('00000000-0000-4000-8000-000000000000', '<id>'));
  });

  it('rejects requests without credentials', async () => {
    const response = await direct('/orders/anything');

    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(((await response.json()) as { code: string }).code).toBe('unauthorized');
  });

  it('rejects forged identity headers', async () => {
    const plain = await direct('/orders/anything', { headers: { 'x-portcullis-subject': 'admin', 'x-portcullis-scope': 'orders:read' } });
    expect(plain.status).toBe(401);

    const forged = await direct('/orders/anything', { headers: { 'x-portcullis-identity': aliceToken } });
    expect(forged.status).toBe(401);
    expect(((await forged.json()) as { detail: string }).detail).toContain('identity assertion');
  });

  it('keeps public routes open', async () => {
    const response = await direct('/health');

    expect(response.status).toBe(200);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
  });
});
