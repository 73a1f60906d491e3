import { SignJWT, exportJWK, generateKeyPair, jwtVerify, type CryptoKey, type JWK } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

import { KeySetUnavailableError, remoteJwks } from '../../src/library/remote-jwks.js';
import { KeySetServer } from '../support/key-set-server.js';

const MINUTE_MS = 60_000;

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

function tokenOf(key: SigningKey): Promise<string> {
  return new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'ES256', kid: key.kid }).setIssuedAt().setExpirationTime('1h').sign(key.privateKey);
}

/** Waits, in real time, until `condition` is true or 5 seconds pass, running `step` before each check. */
async function eventually(condition: () => boolean, step: () => Promise<unknown> = async () => undefined): Promise<boolean> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    await step();
    if (condition()) {
      return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

describe('remote JWK Set', () => {
  const keyServer = new KeySetServer();
  let first: SigningKey;
  let second: SigningKey;

  beforeAll(async () => {
    await keyServer.listen();
    first = await signingKey('first');
    second = await signingKey('second');
  });

  afterAll(async () => {
    await keyServer.close();
  });

  beforeEach(() => {
    // Only the clock moves: the fetches still use real timers and sockets.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-12-05T10:00:00Z'));
    keyServer.keys = [first.publicJwk];
    keyServer.mode = 'serve';
    keyServer.fetches = 0;
  });

  afterEach(() => {
    keyServer.release();
    vi.useRealTimers();
  });

  it('fetches fresh keys once', async () => {
    const keys = remoteJwks(keyServer.url, keyServer.policy);
    const token = await tokenOf(first);

    for (let call = 0; call < 3; call += 1) {
      await jwtVerify(token, keys);
    }

    expect(keyServer.fetches).toBe(1);
  });

  it('finds a key that signs after rotation', async () => {
    const keys = remoteJwks(keyServer.url, keyServer.policy);
    await jwtVerify(await tokenOf(first), keys);

    // Portcullis publishes a new key up to 2 seconds after a rotation and
    // signs with it 5 seconds after, so a fetch just before the key was
    // published is 3 seconds old when the first token names the key.
    keyServer.keys = [first.publicJwk, second.publicJwk];
    vi.setSystemTime(Date.now() + 3000);

    await expect(jwtVerify(await tokenOf(second), keys)).resolves.toMatchObject({ payload: { sub: 'alice' } });
    expect(keyServer.fetches).toBe(2);
  });

  it('fetches for unknown keys at most once a second', async () => {
    const keys = remoteJwks(keyServer.url, keyServer.policy);
    await jwtVerify(await tokenOf(first), keys);
    vi.setSystemTime(Date.now() + 1000);

    for (let call = 0; call < 3; call += 1) {
      await expect(jwtVerify(await tokenOf(second), keys)).rejects.toThrow(/no applicable key found/);
    }
    expect(keyServer.fetches).toBe(2);
  });

  it('refreshes old keys without waiting', async () => {
    const keys = remoteJwks(keyServer.url, keyServer.policy);
    const token = await tokenOf(first);
    await jwtVerify(token, keys);

    keyServer.mode = 'hold';
    keyServer.keys = [first.publicJwk, second.publicJwk];
    vi.setSystemTime(Date.now() + 5 * MINUTE_MS + 1000);

    // The key server delays the background fetch until released, so a
    // verification that waited for it would time out.
    await expect(jwtVerify(token, keys)).resolves.toMatchObject({ payload: { sub: 'alice' } });
    expect(await eventually(() => keyServer.fetches === 2)).toBe(true);

    keyServer.release();
    expect(await eventually(() => keys.jwks()?.keys.length === 2)).toBe(true);
    await jwtVerify(await tokenOf(second), keys);
    expect(keyServer.fetches).toBe(2);
  });

  it('keeps the keys when a refresh fails', async () => {
    const failures: unknown[] = [];
    const keys = remoteJwks(keyServer.url, keyServer.policy, { onBackgroundFailure: (error) => failures.push(error) });
    const token = await tokenOf(first);
    await jwtVerify(token, keys);

    keyServer.mode = 'fail';
    vi.setSystemTime(Date.now() + 6 * MINUTE_MS);
    for (let call = 0; call < 5; call += 1) {
      await jwtVerify(token, keys);
    }

    // One background fetch for all five: the others fall in its cooldown.
    // The failure is reported once that fetch has settled, and the pause
    // gives any further fetch time to reach the server and be counted.
    expect(await eventually(() => failures.length > 0)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(keyServer.fetches).toBe(2);
    expect(keys.jwks()?.keys).toHaveLength(1);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toBeInstanceOf(KeySetUnavailableError);
  });

  it('retries a failed refresh after the cooldown', async () => {
    const keys = remoteJwks(keyServer.url, keyServer.policy);
    const token = await tokenOf(first);
    await jwtVerify(token, keys);

    keyServer.mode = 'fail';
    vi.setSystemTime(Date.now() + 6 * MINUTE_MS);
    await jwtVerify(token, keys);
    expect(await eventually(() => keyServer.fetches === 2)).toBe(true);

    keyServer.mode = 'serve';
    vi.setSystemTime(Date.now() + 31_000);

    // The failed fetch may still be settling, so the verification repeats
    // while the clock moves on, for at most 2 minutes: the keys stay under
    // their maximum age, at which a verification would fetch them itself.
    let clockSteps = 0;
    const retried = await eventually(
      () => keyServer.fetches === 3,
      async () => {
        if (clockSteps < 20) {
          clockSteps += 1;
          vi.setSystemTime(Date.now() + 6000);
        }
        await jwtVerify(token, keys);
      },
    );
    expect(retried).toBe(true);
  });

  it('reuses a failed fetch for 5 seconds', async () => {
    const keys = remoteJwks(keyServer.url, keyServer.policy);
    const token = await tokenOf(first);
    keyServer.mode = 'fail';

    for (let call = 0; call < 4; call += 1) {
      await expect(jwtVerify(token, keys)).rejects.toBeInstanceOf(KeySetUnavailableError);
    }
    expect(keyServer.fetches).toBe(1);

    vi.setSystemTime(Date.now() + 5000);
    await expect(jwtVerify(token, keys)).rejects.toBeInstanceOf(KeySetUnavailableError);
    expect(keyServer.fetches).toBe(2);
  });

  it('rejects a response that is not a JWK Set', async () => {
    const keys = remoteJwks(keyServer.url, keyServer.policy);
    keyServer.mode = 'not-a-key-set';

    const verification = jwtVerify(await tokenOf(first), keys);

    await expect(verification).rejects.toBeInstanceOf(KeySetUnavailableError);
    await expect(verification).rejects.toThrow(/is not a JWK Set/);
  });

  it('returns one key set object until a fetch brings other keys', async () => {
    const keys = remoteJwks(keyServer.url, keyServer.policy);
    expect(keys.jwks()).toBeUndefined();

    await jwtVerify(await tokenOf(first), keys);
    const fetched = keys.jwks();
    expect(fetched?.keys).toHaveLength(1);
    expect(keys.jwks()).toBe(fetched);

    // A background fetch of the same keys keeps the object. Once the first
    // keys are past their maximum age, only the fetched ones are usable.
    vi.setSystemTime(Date.now() + 5 * MINUTE_MS + 1000);
    keys.jwks();
    vi.setSystemTime(Date.now() + 5 * MINUTE_MS);
    expect(await eventually(() => keys.jwks() !== undefined)).toBe(true);
    expect(keys.jwks()).toBe(fetched);
    expect(keyServer.fetches).toBe(2);

    // A fetch that brings another key set replaces it.
    keyServer.keys = [first.publicJwk, second.publicJwk];
    vi.setSystemTime(Date.now() + 5 * MINUTE_MS + 1000);
    keys.jwks();
    expect(await eventually(() => keys.jwks()?.keys.length === 2)).toBe(true);
    expect(keys.jwks()).not.toBe(fetched);

    vi.setSystemTime(Date.now() + 10 * MINUTE_MS + 1000);
    keyServer.mode = 'fail';
    expect(keys.jwks()).toBeUndefined();
  });

  it('reports unavailable keys once they reach the maximum age', async () => {
    const keys = remoteJwks(keyServer.url, keyServer.policy);
    const token = await tokenOf(first);
    await jwtVerify(token, keys);

    keyServer.mode = 'fail';
    vi.setSystemTime(Date.now() + 10 * MINUTE_MS + 1000);

    await expect(jwtVerify(token, keys)).rejects.toBeInstanceOf(KeySetUnavailableError);
  });
});
