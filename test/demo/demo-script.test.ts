import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { runScript, type CliResult } from '../support/cli.js';
import { freePort, startTestServer, type TestServer } from '../support/server.js';

const REPOSITORY_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs `npm run demo`'s script with `args` and the password in PORTCULLIS_DEMO_PASSWORD. */
async function runDemo(args: string[], password: string): Promise<CliResult> {
  return runScript('scripts/demo.ts', args, '', { PORTCULLIS_DEMO_PASSWORD: password });
}

describe('demo script failures', () => {
  let server: TestServer;
  let user: { username: string; password: string };

  beforeAll(async () => {
    server = await startTestServer();
    user = await createUser(server, 'alice');
  });

  afterAll(async () => {
    await server.close();
  });

  it('names a wrong password', async () => {
    const result = await runDemo(['--username', user.username, '--issuer', server.issuer], 'Wrong-Passw0rd-1');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('demo failed: sign-in failed: Invalid username or password.');
  });

  it('names an unregistered redirect URI', async () => {
    const args = ['--username', user.username, '--issuer', server.issuer, '--redirect-uri', 'http://127.0.0.1:9876/unregistered'];
    const result = await runDemo(args, user.password);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("sign-in failed: invalid_redirect_uri: redirect_uri did not match any of the client's registered redirect_uris");
  });

  it('names a missing password', async () => {
    const result = await runDemo(['--username', user.username, '--issuer', server.issuer], '');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('demo failed: no password given: set PORTCULLIS_DEMO_PASSWORD');
    expect(result.stdout).not.toContain('Sign-in page');
  });

  it('prompts for the password at a terminal', async () => {
    // `script` gives the demo a pseudo-terminal as standard input and output.
    const command = [process.execPath, '--import', 'tsx', 'scripts/demo.ts', '--username', user.username, '--issuer', server.issuer]
      .map((part) => `'${part}'`)
      .join(' ');
    const environment: NodeJS.ProcessEnv = { ...process.env };
    delete environment['PORTCULLIS_DEMO_PASSWORD'];
    const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: REPOSITORY_ROOT, env: environment, stdio: ['pipe', 'pipe', 'pipe'] });

    let output = '';
    const prompted = new Promise<void>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes(`Password for ${user.username}: `)) {
          resolve();
        }
      });
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));

    await prompted;
    child.stdin.write(`${user.password}\r`);
    expect(await exited).toBe(0);
    expect(output).not.toContain(user.password);
    expect(output).toContain('Exchanged the code for tokens');
  }, 60_000);

  it('names an empty client id', async () => {
    const result = await runDemo(['--username', user.username, '--issuer', server.issuer, '--client-id', ''], user.password);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('demo failed: --client-id is empty');
    expect(result.stdout).not.toContain('Discovered the authorization server');
  });

  it('names an issuer that is not running', async () => {
    const issuer = `http://127.0.0.1:${await freePort()}`;
    const result = await runDemo(['--username', user.username, '--issuer', issuer], user.password);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`demo failed: discovery at ${issuer} failed`);
    expect(result.stderr).toContain('ECONNREFUSED');
    expect(result.stderr).toContain('Check that Portcullis is running there (npm start), or pass its URL with --issuer');
  });

  it('completes with the right password', async () => {
    const result = await runDemo(['--username', user.username, '--issuer', server.issuer], user.password);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('== POST /api/orders -> 201');
  });
});
