import { randomBytes, timingSafeEqual } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

import { assembleApiKey, generateApiKey } from '../../src/core/api-keys/format.js';
import { KeyedHash } from '../../src/core/keyed-hash.js';
import { createUser } from '../support/accounts.js';
import { runCli } from '../support/cli.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Attacks on API key checking. Response times are not measured: the design
 * that makes them flat is checked instead. Keys are looked up by their
 * non-secret id, and the secret is compared as an HMAC-SHA-256 digest with
 * crypto.timingSafeEqual, so how much of a guess is right changes nothing.
 */

// The server runs in this process, so a spy on timingSafeEqual records every
// comparison that the key check makes.
vi.mock('node:crypto', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:crypto')>();
  return { ...original, timingSafeEqual: vi.fn(original.timingSafeEqual) };
});

interface CreatedKey {
  key: string;
  id: string;
}

let server: TestServer;
let created: CreatedKey;

beforeAll(async () => {
  server = await startTestServer();
  await createUser(server, 'key_owner');
  const result = await runCli(['apikeys', 'create', '--owner', 'key_owner', '--name', 'attack test key', '--scope', 'orders:read', '--json', '--data-dir', server.dataDir]);
  expect(result.code, result.stderr).toBe(0);
  created = JSON.parse(result.stdout) as CreatedKey;
});

afterAll(async () => {
  await server.close();
});

async function withKey(key: string): Promise<Response> {
  return fetch(`${server.url}/api/orders`, { headers: { 'x-api-key': key } });
}

/** Reads the response body without its request id, which differs on every request. */
async function comparableBody(response: Response): Promise<string> {
  return (await response.text()).replace(/"request_id":"[^"]+"/, '');
}

/** Returns the key's secret part, between the id and the checksum. */
function secretOf(key: string): string {
  return key.slice(21, 64);
}

describe('API key compared with === (timing side channel)', () => {
  it('accepts the issued key', async () => {
    expect((await withKey(created.key)).status).toBe(200);
  });

  it('answers near misses like wild guesses', async () => {
    const secret = secretOf(created.key);
    const lastChar = secret.at(-1) === 'a' ? 'b' : 'a';
    const nearMiss = assembleApiKey('live', created.id, `${secret.slice(0, -1)}${lastChar}`);
    const firstChar = secret.at(0) === 'a' ? 'b' : 'a';
    const earlyMiss = assembleApiKey('live', created.id, `${firstChar}${secret.slice(1)}`);
    const wildGuess = generateApiKey('live').value;

    const responses = [await withKey(nearMiss), await withKey(earlyMiss), await withKey(wildGuess)];

    expect(responses.map((response) => response.status)).toEqual([401, 401, 401]);
    const bodies = await Promise.all(responses.map(comparableBody));
    expect(bodies[0]).toBe(bodies[2]);
    expect(bodies[1]).toBe(bodies[2]);
  });

  it('treats a wrong secret like an unknown id', async () => {
    const wrongSecret = assembleApiKey('live', created.id, generateApiKey('live').value.slice(21, 64));
    const unknownId = generateApiKey('live').value;

    const known = await withKey(wrongSecret);
    const unknown = await withKey(unknownId);

    expect(known.status).toBe(401);
    expect(await comparableBody(known)).toBe(await comparableBody(unknown));
  });

  it('rejects malformed keys by format alone', async () => {
    // A malformed key is rejected before any look-up, so its problem names
    // the format fault. The same fault in the issued key and in a guess
    // must give the same response, or the response would tell them apart.
    const guess = generateApiKey('live').value;
    const edits: Array<(key: string) => string> = [
      (key) => `${key.slice(0, -1)}${key.at(-1) === 'a' ? 'b' : 'a'}`,
      (key) => key.slice(0, 40),
      (key) => `${key}a`,
      (key) => key.replace(/^pcs_/, 'pcx_'),
    ];

    for (const edit of edits) {
      const fromIssued = await withKey(edit(created.key));
      const fromGuess = await withKey(edit(guess));

      expect(fromIssued.status).toBe(401);
      expect(await comparableBody(fromIssued)).toBe(await comparableBody(fromGuess));
    }
  });

  describe('digest comparison', () => {
    beforeEach(() => {
      vi.mocked(timingSafeEqual).mockClear();
    });

    it('compares a wrong secret in constant time', async () => {
      const wrongSecret = assembleApiKey('live', created.id, generateApiKey('live').value.slice(21, 64));

      expect((await withKey(wrongSecret)).status).toBe(401);

      const calls = vi.mocked(timingSafeEqual).mock.calls;
      expect(calls).toHaveLength(1);
      const [presented, stored] = calls[0] as [Buffer, Buffer];
      expect(presented).toHaveLength(32);
      expect(stored).toHaveLength(32);
    });

    it('compares digests of any input length', () => {
      const hasher = new KeyedHash(randomBytes(32));
      const stored = hasher.hash(created.key);

      expect(hasher.matches(created.key, stored)).toBe(true);
      expect(hasher.matches(created.key.slice(0, 31), stored)).toBe(false);
      expect(hasher.matches(`${created.key}x`, stored)).toBe(false);
      expect(hasher.matches('', stored)).toBe(false);
      expect(hasher.matches('x', stored)).toBe(false);
      expect(hasher.matches('x'.repeat(10_000), stored)).toBe(false);
      // A stored hash of the wrong length fails before any comparison.
      expect(hasher.matches(created.key, stored.slice(0, 10))).toBe(false);

      const lengths = vi.mocked(timingSafeEqual).mock.calls.map(([presented, digest]) => [presented.byteLength, digest.byteLength]);
      expect(lengths).toEqual(Array.from({ length: 6 }, () => [32, 32]));
    });
  });

  it('stores no key in plain text', async () => {
    const rows = await server.running.db.selectFrom('api_keys').selectAll().execute();

    expect(JSON.stringify(rows)).not.toContain(secretOf(created.key));
  });
});
