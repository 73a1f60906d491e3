import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { defaultRateLimits } from '../../src/config/load.js';
import { LoginThrottle, type LoginAttempt } from '../../src/core/rate-limit/login-throttle.js';
import { MemoryRateLimitStore } from '../../src/core/rate-limit/memory-store.js';
import { createUser } from '../support/accounts.js';
import { writeConfigFile } from '../support/config-file.js';
import { openSignInPage } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { formEndingWith } from '../support/user-agent.js';

/**
 * The per-address sign-in counter counts failed sign-ins only. Everyone
 * behind one address, such as an office's NAT, signs in through the same
 * counter, so successful sign-ins must not fill it.
 */

const ADDRESS_THRESHOLD = 3;

let server: TestServer;
let users: Array<{ username: string; password: string }>;

/** Submits one sign-in from a fresh browser on this machine's address and returns the status of the page it ends on. */
async function signIn(username: string, password: string): Promise<number> {
  const { agent, html } = await openSignInPage(server);
  const { response } = await agent.submit(formEndingWith(html, '/login'), { username, password });
  return response.status;
}

describe('sign-in throttle per address', () => {
  beforeEach(async () => {
    const config = await writeConfigFile({
      rateLimit: {
        ...defaultRateLimits(),
        login: { accountThreshold: 5, accountTotalThreshold: 50, addressThreshold: ADDRESS_THRESHOLD, window: '15m', baseDelay: '30s', maxDelay: '15m' },
      },
    });
    server = await startTestServer({ config });
    users = [];
    for (let i = 0; i < ADDRESS_THRESHOLD + 2; i += 1) {
      users.push(await createUser(server, `office_user_${i}`));
    }
  });

  afterEach(async () => {
    await server.close();
  });

  it('lets many users sign in', async () => {
    const statuses: number[] = [];
    for (const user of users) {
      statuses.push(await signIn(user.username, user.password));
    }

    expect(statuses).toEqual(users.map(() => 200));
  });

  it('still delays after failed sign-ins', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < ADDRESS_THRESHOLD; i += 1) {
      statuses.push(await signIn(`unknown_user_${i}`, 'Wrong-Passw0rd-1'));
    }
    statuses.push(await signIn(users[0]!.username, users[0]!.password));

    expect(statuses).toEqual([...Array.from({ length: ADDRESS_THRESHOLD }, () => 401), 429]);
  });

  it('keeps failures between successes', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < ADDRESS_THRESHOLD; i += 1) {
      statuses.push(await signIn(users[i]!.username, users[i]!.password));
      statuses.push(await signIn(`unknown_user_${i}`, 'Wrong-Passw0rd-1'));
    }
    statuses.push(await signIn(users[ADDRESS_THRESHOLD]!.username, users[ADDRESS_THRESHOLD]!.password));

    expect(statuses).toEqual([200, 401, 200, 401, 200, 401, 429]);
  });

  it('signs in when recording the success fails', async () => {
    const throttle = server.running.rateLimiting.loginThrottle;
    const succeeded = vi.spyOn(throttle, 'succeeded').mockRejectedValue(new Error('store unavailable'));
    try {
      expect(await signIn(users[0]!.username, users[0]!.password)).toBe(200);
      expect(succeeded).toHaveBeenCalledTimes(1);
    } finally {
      succeeded.mockRestore();
    }
    expect(server.logs.some((line) => line.includes('recording a successful sign-in for its counters failed'))).toBe(true);
  });

  it('ends checks that failed with an error', async () => {
    // Without its table, the account look-up of each check throws.
    await sql`alter table accounts rename to accounts_away`.execute(server.running.db);
    const statuses: number[] = [];
    try {
      for (let i = 0; i < ADDRESS_THRESHOLD; i += 1) {
        statuses.push(await signIn(users[i]!.username, users[i]!.password));
      }
    } finally {
      await sql`alter table accounts_away rename to accounts`.execute(server.running.db);
    }
    statuses.push(await signIn(users[ADDRESS_THRESHOLD]!.username, users[ADDRESS_THRESHOLD]!.password));

    expect(statuses).toEqual([...Array.from({ length: ADDRESS_THRESHOLD }, () => 500), 200]);
  });
});

describe('sign-in throttle per address, in parallel', () => {
  const options = { accountThreshold: 5, accountTotalThreshold: 50, addressThreshold: 20, windowMs: 900_000, baseDelayMs: 1000, maxDelayMs: 900_000 };

  /** Begins a sign-in of `username` from 192.0.2.1 that the throttle must let through, and returns it. */
  async function allowedAttempt(throttle: LoginThrottle, username: string): Promise<LoginAttempt> {
    const verdict = await throttle.begin(username, '192.0.2.1');
    if (!verdict.allowed) {
      throw new Error(`the sign-in of ${username} was throttled for ${verdict.retryAfterMs} ms`);
    }
    return verdict.attempt;
  }

  it('checks at most the threshold of guesses', async () => {
    const throttle = new LoginThrottle(new MemoryRateLimitStore(1000), options);

    const verdicts = await Promise.all(Array.from({ length: 50 }, (_unused, index) => throttle.begin(`sprayed_${index}`, '192.0.2.1')));

    expect(verdicts.filter((verdict) => verdict.allowed)).toHaveLength(options.addressThreshold);
  });

  it('delays the address after those guesses fail', async () => {
    const throttle = new LoginThrottle(new MemoryRateLimitStore(1000), options);
    for (let index = 0; index < options.addressThreshold; index += 1) {
      await throttle.failed(await allowedAttempt(throttle, `sprayed_${index}`));
    }

    expect((await throttle.begin('another_user', '192.0.2.1')).allowed).toBe(false);
    expect((await throttle.begin('another_user', '198.51.100.1')).allowed).toBe(true);
  });

  it('counts guesses still being checked', async () => {
    const throttle = new LoginThrottle(new MemoryRateLimitStore(1000), options);

    // Each guess begins after the previous one was let through and before
    // its password check ends, as a client that sends them a few
    // milliseconds apart gets.
    const verdicts = [];
    for (let index = 0; index < 50; index += 1) {
      verdicts.push(await throttle.begin(`sprayed_${index}`, '192.0.2.1'));
    }

    expect(verdicts.filter((verdict) => verdict.allowed)).toHaveLength(options.addressThreshold);
  });

  it('frees the place of finished and rejected attempts', async () => {
    const throttle = new LoginThrottle(new MemoryRateLimitStore(1000), options);
    const first = await Promise.all(Array.from({ length: 25 }, (_unused, index) => throttle.begin(`colleague_${index}`, '192.0.2.1')));
    const allowed = first.filter((verdict) => verdict.allowed);
    expect(allowed).toHaveLength(options.addressThreshold);
    for (const [index, verdict] of allowed.entries()) {
      await throttle.succeeded(`colleague_${index}`, verdict.attempt);
    }

    const second = [];
    for (let index = 0; index < options.addressThreshold; index += 1) {
      second.push(await throttle.begin(`colleague_${index}`, '192.0.2.1'));
    }

    expect(second.every((verdict) => verdict.allowed)).toBe(true);
  });

  it('frees the place of an abandoned attempt', async () => {
    const throttle = new LoginThrottle(new MemoryRateLimitStore(1000), options);
    for (let index = 0; index < options.addressThreshold; index += 1) {
      await throttle.abandoned(await allowedAttempt(throttle, `colleague_${index}`));
    }

    expect((await throttle.begin('another_colleague', '192.0.2.1')).allowed).toBe(true);
  });

  it('stops counting attempts that never end', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const throttle = new LoginThrottle(new MemoryRateLimitStore(1000), options);
      // These attempts stay in progress, as when the process stops during their checks.
      for (let index = 0; index < options.addressThreshold; index += 1) {
        await allowedAttempt(throttle, `colleague_${index}`);
      }
      expect((await throttle.begin('another_colleague', '192.0.2.1')).allowed).toBe(false);

      vi.setSystemTime(Date.now() + 120_000);

      expect((await throttle.begin('another_colleague', '192.0.2.1')).allowed).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('expires attempt counters after three periods', async () => {
    let now = Date.now();
    const store = new MemoryRateLimitStore(1000, () => now);
    const throttle = new LoginThrottle(store, options);
    const attempt = await allowedAttempt(throttle, 'colleague');
    await throttle.succeeded('colleague', attempt);
    const periodCounters = async () => {
      const period = Math.floor(Date.now() / 60_000);
      const keys = [period - 1, period, period + 1].flatMap((at) => [`login-address:192.0.2.1|attempts:${at}`, `login-address:192.0.2.1|ended:${at}`]);
      const counts = await Promise.all(keys.map((key) => store.failures(key, 180_000)));
      return counts.reduce((sum, count) => sum + count.count, 0);
    };
    expect(await periodCounters()).toBe(2);

    // The address counter lives for the whole window; the attempt counters do not.
    now += 180_001;
    expect(await periodCounters()).toBe(0);
  });

  it('ends attempts whose begin timed out', async () => {
    const store = new MemoryRateLimitStore(1000);
    const recordFailure = store.recordFailure.bind(store);
    let writeDelayMs = 50;
    // A store that completes each write after the throttle stopped waiting for it.
    store.recordFailure = async (key, windowMs) => {
      await new Promise((resolve) => setTimeout(resolve, writeDelayMs));
      return recordFailure(key, windowMs);
    };
    const throttle = new LoginThrottle(store, { ...options, storeTimeoutMs: 10 });

    const failures = await Promise.allSettled(Array.from({ length: options.addressThreshold }, (_unused, index) => throttle.begin(`colleague_${index}`, '192.0.2.1')));
    expect(failures.every((result) => result.status === 'rejected')).toBe(true);
    writeDelayMs = 0;
    await new Promise((resolve) => setTimeout(resolve, 200));

    expect((await throttle.begin('another_colleague', '192.0.2.1')).allowed).toBe(true);
  });

  it('lets parallel sign-ins through below the threshold', async () => {
    const throttle = new LoginThrottle(new MemoryRateLimitStore(1000), options);

    const verdicts = await Promise.all(Array.from({ length: options.addressThreshold }, (_unused, index) => throttle.begin(`colleague_${index}`, '192.0.2.1')));

    expect(verdicts.every((verdict) => verdict.allowed)).toBe(true);
  });
});
