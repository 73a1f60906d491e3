import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { defaultRateLimits } from '../../src/config/load.js';
import { LoginThrottle } from '../../src/core/rate-limit/login-throttle.js';
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
});

describe('sign-in throttle per address, in parallel', () => {
  const options = { accountThreshold: 5, accountTotalThreshold: 50, addressThreshold: 20, windowMs: 900_000, baseDelayMs: 1000, maxDelayMs: 900_000 };

  it('checks at most the threshold of guesses', async () => {
    const throttle = new LoginThrottle(new MemoryRateLimitStore(1000), options);

    const verdicts = await Promise.all(Array.from({ length: 50 }, (_unused, index) => throttle.begin(`sprayed_${index}`, '192.0.2.1')));

    expect(verdicts.filter((verdict) => verdict.allowed)).toHaveLength(options.addressThreshold);
  });

  it('delays the address after those guesses fail', async () => {
    const throttle = new LoginThrottle(new MemoryRateLimitStore(1000), options);
    for (let index = 0; index < options.addressThreshold; index += 1) {
      expect((await throttle.begin(`sprayed_${index}`, '192.0.2.1')).allowed).toBe(true);
      await throttle.failed('192.0.2.1');
    }

    expect((await throttle.begin('another_user', '192.0.2.1')).allowed).toBe(false);
    expect((await throttle.begin('another_user', '198.51.100.1')).allowed).toBe(true);
  });

  it('lets parallel sign-ins through below the threshold', async () => {
    const throttle = new LoginThrottle(new MemoryRateLimitStore(1000), options);

    const verdicts = await Promise.all(Array.from({ length: options.addressThreshold }, (_unused, index) => throttle.begin(`colleague_${index}`, '192.0.2.1')));

    expect(verdicts.every((verdict) => verdict.allowed)).toBe(true);
  });
});
