import { describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load.js';
import { AccessTokenVerifier } from '../../src/core/access-token-verifier.js';
import { CachingTokenVerifier } from '../../src/core/cache/token-cache.js';
import type { KeyRing } from '../../src/keys/key-ring.js';
import { apiKeyLookupCacheOptions, createCredentialChecks } from '../../src/server/credential-checks.js';
import { writeConfigFile } from '../support/config-file.js';

const KEY_RING = { publicJwks: { keys: [] }, accessTokenJwks: { keys: [] } } as unknown as KeyRing;

async function configWith(gateway: Record<string, unknown>) {
  return loadConfig({ config: await writeConfigFile({ gateway }) }, {});
}

/** Builds the checks over stores that count their reads. */
function countingChecks(config: Awaited<ReturnType<typeof configWith>>) {
  const reads = { grants: 0, clients: 0 };
  const checks = createCredentialChecks(config, KEY_RING, {
    isGrantActive: () => {
      reads.grants += 1;
      return true;
    },
    isClientActive: () => {
      reads.clients += 1;
      return true;
    },
  });
  return { checks, reads };
}

describe('gateway credential checks', () => {
  it('caches tokens and revocation checks by default', async () => {
    const config = await configWith({});
    const { checks, reads } = countingChecks(config);

    expect(config.gateway.revocationCheckTtlMs).toBe(1000);
    expect(checks.verifier).toBeInstanceOf(CachingTokenVerifier);
    checks.isGrantActive('grant-1');
    checks.isGrantActive('grant-1');
    checks.isClientActive('client-1');
    checks.isClientActive('client-1');
    expect(reads).toEqual({ grants: 1, clients: 1 });

    checks.grantRevoked('grant-1');
    checks.isGrantActive('grant-1');
    expect(reads.grants).toBe(2);
  });

  it('reuses revocation checks with the token cache off', async () => {
    const { checks, reads } = countingChecks(await configWith({ tokenCache: { enabled: false, maxEntries: 10 } }));

    expect(checks.verifier).toBeInstanceOf(AccessTokenVerifier);
    checks.isGrantActive('grant-1');
    checks.isGrantActive('grant-1');
    expect(reads.grants).toBe(1);
  });

  it('reads the store every time at a reuse time of 0', async () => {
    const { checks, reads } = countingChecks(await configWith({ revocationCheckTtlMs: 0 }));

    expect(checks.verifier).toBeInstanceOf(CachingTokenVerifier);
    checks.isGrantActive('grant-1');
    checks.isGrantActive('grant-1');
    checks.isClientActive('client-1');
    checks.isClientActive('client-1');
    expect(reads).toEqual({ grants: 2, clients: 2 });
  });

  it('keeps API key lookups only when both allow', async () => {
    expect(apiKeyLookupCacheOptions(await configWith({ revocationCheckTtlMs: 250 }))).toEqual({ ttlMs: 250, maxEntries: 10_000 });
    expect(apiKeyLookupCacheOptions(await configWith({ revocationCheckTtlMs: 0 }))).toBeUndefined();
    expect(apiKeyLookupCacheOptions(await configWith({ tokenCache: { enabled: false, maxEntries: 10 } }))).toBeUndefined();
  });

  it('rejects an invalid reuse time', async () => {
    for (const value of [-1, 0.5, 60_001, '1000']) {
      await expect(configWith({ revocationCheckTtlMs: value })).rejects.toThrow(/revocationCheckTtlMs/);
    }
  });
});
