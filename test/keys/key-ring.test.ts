import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { SecretBox } from '../../src/core/secret-box.js';
import { KeyRing, orderForSigning, signingKidsByAlgorithm } from '../../src/keys/key-ring.js';
import { ensureSigningKeys, generateSigningKey, rotateSigningKeys } from '../../src/keys/signing-keys.js';
import { openDatabase } from '../../src/store/database.js';
import { defaultDatabaseUrl } from '../../src/store/database-url.js';
import type { Database } from '../../src/store/schema.js';
import { SigningKeyRepository, type SigningKey } from '../../src/store/signing-key-repository.js';

function key(kid: string, createdAt: number, retiredAt: number | null, alg = 'ES256'): SigningKey {
  return { kid, alg, privateJwk: { kid }, createdAt, retiredAt };
}

describe('signing order', () => {
  const now = 1_000_000_000;

  it('holds back a young key', () => {
    const active = key('new', now - 2, null);
    const previous = key('old', now - 3600, now - 2);
    const { keys, changesInMs } = orderForSigning([active, previous], now * 1000, 5000);
    expect(keys.map((entry) => entry.kid)).toEqual(['old', 'new']);
    expect(changesInMs).toBe(4000);
  });

  it('counts the delay from the next second', () => {
    // Late in the second of the rotation, the rounded-down created_at would leave almost a second less.
    const active = key('new', now, null);
    const previous = key('old', now - 3600, now);
    const { changesInMs } = orderForSigning([active, previous], now * 1000 + 999, 5000);
    expect(changesInMs).toBe(5001);
  });

  it('signs with a key past the delay', () => {
    const active = key('new', now - 6, null);
    const previous = key('old', now - 3600, now - 6);
    const { keys, changesInMs } = orderForSigning([active, previous], now * 1000, 5000);
    expect(keys.map((entry) => entry.kid)).toEqual(['new', 'old']);
    expect(changesInMs).toBeUndefined();
  });

  it('picks the latest retired key', () => {
    const active = key('c', now, null);
    const older = key('a', now - 7200, now - 3600);
    const newer = key('b', now - 3600, now);
    const { keys } = orderForSigning([active, older, newer], now * 1000, 5000);
    expect(keys.map((entry) => entry.kid)).toEqual(['b', 'c', 'a']);
  });

  it('signs with a first key at once', () => {
    const { keys, changesInMs } = orderForSigning([key('only', now, null)], now * 1000, 5000);
    expect(keys.map((entry) => entry.kid)).toEqual(['only']);
    expect(changesInMs).toBeUndefined();
  });

  it('delays each algorithm separately', () => {
    // The ES256 key is 2 s old and held back; the RS256 key is past the delay.
    const keys = [
      key('es-new', now - 2, null, 'ES256'),
      key('rs-new', now - 60, null, 'RS256'),
      key('es-old', now - 3600, now - 2, 'ES256'),
      key('rs-old', now - 3600, now - 60, 'RS256'),
    ];
    const ordered = orderForSigning(keys, now * 1000, 5000);
    expect(ordered.keys.map((entry) => entry.kid)).toEqual(['es-old', 'rs-new', 'es-new', 'rs-old']);
    expect(ordered.changesInMs).toBe(4000);
    expect(signingKidsByAlgorithm(ordered.keys)).toEqual({ ES256: 'es-old', RS256: 'rs-new' });
  });

  it('holds back with a key of the same algorithm', () => {
    // A young RS256 key with no RS256 predecessor signs at once, and never
    // hands its place to a retired ES256 key.
    const keys = [key('rs-new', now - 1, null, 'RS256'), key('es-new', now - 60, null, 'ES256'), key('es-old', now - 3600, now - 60, 'ES256')];
    const ordered = orderForSigning(keys, now * 1000, 5000);
    expect(signingKidsByAlgorithm(ordered.keys)).toEqual({ RS256: 'rs-new', ES256: 'es-new' });
    // The ES256 key, which signs access tokens, comes first.
    expect(ordered.keys.map((entry) => entry.kid)).toEqual(['es-new', 'rs-new', 'es-old']);
    expect(ordered.changesInMs).toBeUndefined();
  });

  it('takes the shortest delay of all algorithms', () => {
    const keys = [
      key('es-new', now - 1, null, 'ES256'),
      key('rs-new', now - 3, null, 'RS256'),
      key('es-old', now - 3600, now - 1, 'ES256'),
      key('rs-old', now - 3600, now - 3, 'RS256'),
    ];
    const ordered = orderForSigning(keys, now * 1000, 5000);
    expect(signingKidsByAlgorithm(ordered.keys)).toEqual({ ES256: 'es-old', RS256: 'rs-old' });
    expect(ordered.changesInMs).toBe(3000);
  });
});

describe('key ring', () => {
  let dataDir: string;
  let db: Kysely<Database>;
  let repository: SigningKeyRepository;
  let ring: KeyRing | undefined;

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'portcullis-keys-'));
    db = await openDatabase(defaultDatabaseUrl(dataDir));
    repository = new SigningKeyRepository(db, new SecretBox(randomBytes(32), 'signing keys'));
  });

  afterEach(async () => {
    ring?.stop();
    await db.destroy().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  });

  it('publishes keys of both algorithms', async () => {
    await ensureSigningKeys(repository);
    ring = new KeyRing(repository, { retentionSeconds: 600, pollIntervalMs: 60_000, onError: () => undefined });
    await ring.refresh();

    expect(ring.publicJwks.keys.map((jwk) => `${jwk.kty} ${jwk.alg}`).sort()).toEqual(['EC ES256', 'RSA RS256']);
    expect(ring.publicJwks.keys.every((jwk) => jwk.d === undefined && jwk.p === undefined)).toBe(true);
    expect(ring.accessTokenJwks.keys.map((jwk) => jwk.alg)).toEqual(['ES256']);
    expect(Object.keys(signingKidsByAlgorithm(ring.keys)).sort()).toEqual(['ES256', 'RS256']);

    // A reload that changed the keys makes a new access token key set, which empties the token cache.
    const before = ring.accessTokenJwks;
    await rotateSigningKeys(repository);
    await ring.refresh();
    expect(ring.accessTokenJwks).not.toBe(before);
    expect(ring.accessTokenJwks.keys).toHaveLength(2);
    expect(ring.publicJwks.keys).toHaveLength(4);
  });

  it('promotes a rotated key after the delay', async () => {
    const first = await generateSigningKey();
    await repository.activate(first);
    // created_at is stored in whole seconds, so the delay runs from up to a
    // second before the rotation. 3 s leaves the checks below 2 s or more.
    ring = new KeyRing(repository, { retentionSeconds: 600, pollIntervalMs: 60_000, signingDelayMs: 3000, onError: () => undefined });
    await ring.refresh();
    expect(ring.keys.map((entry) => entry.kid)).toEqual([first.kid]);

    const changes: string[][] = [];
    ring.on('change', (keys) => changes.push(keys.map((entry) => entry.kid)));
    const secondKey = await generateSigningKey();
    await repository.activate(secondKey);
    const second = secondKey.kid;
    await ring.refresh();

    // Published at once, so verifiers accept it, but the old key still signs.
    expect(ring.publicJwks.keys.map((jwk) => jwk.kid).sort()).toEqual([first.kid, second].sort());
    expect(ring.keys[0]?.kid).toBe(first.kid);

    const deadline = Date.now() + 10_000;
    while (changes.length < 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(changes).toEqual([
      [first.kid, second],
      [second, first.kid],
    ]);
    expect(ring.keys[0]?.kid).toBe(second);
  });

  it('emits one change for an early promotion timer', async () => {
    const now = Date.now();
    const nowSeconds = Math.floor(now / 1000);
    const [older, newer] = [await generateSigningKey(), await generateSigningKey()];
    const published: SigningKey[] = [
      { kid: newer.kid, alg: 'ES256', privateJwk: newer, createdAt: nowSeconds, retiredAt: null },
      { kid: older.kid, alg: 'ES256', privateJwk: older, createdAt: nowSeconds - 3600, retiredAt: nowSeconds },
    ];
    const fixed = { fingerprint: async () => 'fixed', listPublished: async () => published, deleteExpired: async () => 0 } as unknown as SigningKeyRepository;
    const dueMs = (nowSeconds + 1) * 1000 + 3000 - now;
    const clock = vi.spyOn(Date, 'now').mockReturnValue(now);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const early = new KeyRing(fixed, { retentionSeconds: 600, pollIntervalMs: 60_000, signingDelayMs: 3000, onError: () => undefined });
      const changes: string[][] = [];
      early.on('change', (keys) => changes.push(keys.map((entry) => entry.kid)));
      await early.refresh();

      // The timer runs while Date.now() still reads a millisecond before the promotion is due.
      clock.mockReturnValue(now + dueMs - 1);
      vi.advanceTimersByTime(dueMs);
      clock.mockReturnValue(now + dueMs);
      vi.advanceTimersByTime(1);
      early.stop();

      expect(changes).toEqual([
        [older.kid, newer.kid],
        [newer.kid, older.kid],
      ]);
    } finally {
      vi.useRealTimers();
      clock.mockRestore();
    }
  });

  it('reloads a key rotated during a reload', async () => {
    let rotated: string | undefined;
    // Another process rotates the key while this one lists the keys.
    class RacingRepository extends SigningKeyRepository {
      override async listPublished(retentionSeconds: number): Promise<SigningKey[]> {
        const published = await super.listPublished(retentionSeconds);
        rotated ??= (await rotateSigningKeys(this))[0]?.kid;
        return published;
      }
    }
    const racing = new RacingRepository(db, new SecretBox(randomBytes(32), 'signing keys'));
    await racing.activate(await generateSigningKey());
    ring = new KeyRing(racing, { retentionSeconds: 600, pollIntervalMs: 60_000, onError: () => undefined });

    expect(await ring.refresh()).toBe(true);
    expect(ring.publicJwks.keys.map((jwk) => jwk.kid)).not.toContain(rotated);

    expect(await ring.refresh()).toBe(true);
    expect(ring.publicJwks.keys.map((jwk) => jwk.kid)).toContain(rotated);
  });

  it('polls once at a time', async () => {
    let running = 0;
    let maxRunning = 0;
    let polls = 0;
    // Each poll takes ten poll intervals, as against a database that stalls.
    class SlowRepository extends SigningKeyRepository {
      override async fingerprint(): Promise<string> {
        polls += 1;
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((resolve) => setTimeout(resolve, 200));
        running -= 1;
        return super.fingerprint();
      }
    }
    const slow = new SlowRepository(db, new SecretBox(randomBytes(32), 'signing keys'));
    ring = new KeyRing(slow, { retentionSeconds: 600, pollIntervalMs: 20, onError: () => undefined });

    ring.start();
    await new Promise((resolve) => setTimeout(resolve, 700));
    ring.stop();

    expect(polls).toBeGreaterThan(1);
    expect(maxRunning).toBe(1);
  });
});
