import { AsyncLocalStorage } from 'node:async_hooks';
import providerStorage from 'oidc-provider/lib/helpers/als.js';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { StorageGate, oauthRequests } from '../../src/authorization-server/request-storage.js';
import { runCli } from '../support/cli.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** Returns a promise and the function that resolves it. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((settle) => {
    resolve = settle;
  });
  return { promise, resolve };
}

/**
 * Starts `storage.run(store)` with a continuation that waits for `release`
 * and then reads the store. Disabling the storage before the release makes
 * the continuation read undefined.
 */
function storeAfter(storage: AsyncLocalStorage<string>, store: string, release: Promise<void>): Promise<string | undefined> {
  return storage.run(store, () => release.then(() => storage.getStore()));
}

describe('StorageGate', () => {
  it('disables the storage when the last request ends', async () => {
    const storage = new AsyncLocalStorage<string>();
    const gate = new StorageGate(storage);
    const release = deferred();
    const pending = storeAfter(storage, 'pending', release.promise);

    await gate.track(async () => {
      expect(gate.inFlight).toBe(1);
    });
    release.resolve();

    expect(gate.inFlight).toBe(0);
    expect(await pending).toBeUndefined();
  });

  it('keeps the storage while another request is in flight', async () => {
    const storage = new AsyncLocalStorage<string>();
    const gate = new StorageGate(storage);
    const second = deferred();

    const longer = gate.track(() => storeAfter(storage, 'second', second.promise));
    await gate.track(async () => 'first');
    second.resolve();

    expect(await longer).toBe('second');
    expect(gate.inFlight).toBe(0);
  });

  it('disables the storage after a request that failed', async () => {
    const storage = new AsyncLocalStorage<string>();
    const gate = new StorageGate(storage);
    const release = deferred();
    const pending = storeAfter(storage, 'pending', release.promise);

    await expect(gate.track(() => Promise.reject(new Error('handler failed')))).rejects.toThrow('handler failed');
    release.resolve();

    expect(gate.inFlight).toBe(0);
    expect(await pending).toBeUndefined();
  });
});

describe('oidc-provider request storage', () => {
  let server: TestServer;
  let serviceId: string;
  let serviceSecret: string;

  beforeAll(async () => {
    server = await startTestServer();
    const result = await runCli(['clients', 'add', '--name', 'Service', '--json', '--data-dir', server.dataDir, '--confidential', '--grant', 'client_credentials', '--scope', 'orders:read']);
    expect(result.code, result.stderr).toBe(0);
    const created = JSON.parse(result.stdout) as { client_id: string; client_secret: string };
    serviceId = created.client_id;
    serviceSecret = created.client_secret;
  });

  afterAll(async () => {
    await server.close();
  });

  it('keeps the store for concurrent requests', async () => {
    const configuration = await client.discovery(new URL(server.issuer), serviceId, undefined, client.ClientSecretBasic(serviceSecret), {
      execute: [client.allowInsecureRequests],
    });
    // Reads by oidc-provider's models, not the check that run() makes itself.
    const storesRead: unknown[] = [];
    const readStore = providerStorage.getStore.bind(providerStorage);
    const spy = vi.spyOn(providerStorage, 'getStore').mockImplementation(() => {
      const store = readStore();
      if (!(new Error().stack ?? '').includes('AsyncLocalStorage.run')) {
        storesRead.push(store);
      }
      return store;
    });

    try {
      const grants = await Promise.all(Array.from({ length: 8 }, () => client.clientCredentialsGrant(configuration, { scope: 'orders:read' })));

      for (const tokens of grants) {
        expect(tokens.access_token).toMatch(/^ey/);
      }
    } finally {
      spy.mockRestore();
    }
    expect(storesRead.length).toBeGreaterThan(0);
    expect(storesRead.filter((store) => store === undefined)).toHaveLength(0);
  });

  it('disables the store after the last request', async () => {
    const release = deferred();
    const pending = storeAfter(providerStorage as AsyncLocalStorage<string>, 'probe', release.promise);

    const response = await fetch(`${server.issuer}/.well-known/openid-configuration`);
    await response.arrayBuffer();
    await vi.waitFor(() => expect(oauthRequests.inFlight).toBe(0), { timeout: 5000, interval: 20 });
    release.resolve();

    expect(response.status).toBe(200);
    expect(await pending).toBeUndefined();
  });
});
