import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';

import type { AccessTokenClaims } from '../../src/core/access-token-verifier.js';
import type { Pending } from '../../src/core/pending.js';
import { ProblemError } from '../../src/core/problem.js';
import { authenticate, type AuthenticationRequest } from '../../src/gateway/authenticate.js';

const claims: AccessTokenClaims = {
  subject: 'alice',
  clientId: 'app',
  scopes: ['orders:read'],
  roles: [],
  grantId: 'grant-1',
  expiresAt: Number.MAX_SAFE_INTEGER,
  notBefore: undefined,
  jti: 'token-1',
  payload: { sub: 'alice' },
};

const request: AuthenticationRequest = {
  headers: { authorization: 'Bearer header.payload.signature' },
  raw: { rawHeaders: ['Authorization', 'Bearer header.payload.signature'] },
  query: {},
  ip: '192.0.2.1',
  log: { info: () => {}, warn: () => {} },
};

/** Authenticates with a cached token and a grant check that returns `active`. */
async function statusWith(active: () => unknown): Promise<number> {
  const dependencies = {
    verifier: { verify: () => claims },
    isGrantActive: active as () => Pending<boolean>,
    isClientActive: () => true,
  };
  try {
    await authenticate(request, dependencies, ['jwt']);
    return 200;
  } catch (error) {
    if (error instanceof ProblemError) {
      return error.status;
    }
    throw error;
  }
}

describe('grant checks in authentication', () => {
  it.each([
    ['a plain value', () => false],
    ['a native promise', () => Promise.resolve(false)],
    ['a thenable of another library', () => ({ then: (resolve: (value: boolean) => void) => resolve(false) })],
    ['a promise of another realm', () => runInNewContext('Promise.resolve(false)') as Promise<boolean>],
  ])('rejects a revoked grant from %s', async (_kind, active) => {
    expect(await statusWith(active)).toBe(401);
  });

  it.each([
    ['a plain value', () => true],
    ['a thenable', () => ({ then: (resolve: (value: boolean) => void) => resolve(true) })],
  ])('accepts an active grant from %s', async (_kind, active) => {
    expect(await statusWith(active)).toBe(200);
  });

  it.each([
    ['a truthy string', () => 'yes'],
    ['undefined', () => undefined],
  ])('fails closed on %s', async (_kind, active) => {
    expect(await statusWith(active)).toBe(401);
  });
});
