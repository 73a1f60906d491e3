import { afterEach, describe, expect, it, vi } from 'vitest';

/** Look-ups of the mocked `dns.lookup` that have not settled, as a DNS server that never answers leaves them. */
const lookups = vi.hoisted(() => [] as { hostname: string; settle: () => void }[]);

vi.mock('node:dns/promises', () => ({
  lookup: vi.fn(
    (hostname: string) =>
      new Promise((resolve) => {
        lookups.push({ hostname, settle: () => resolve([{ address: '127.0.0.1', family: 4 }]) });
      }),
  ),
}));

const { OutboundClient } = await import('../../src/core/outbound/client.js');
const { OutboundError } = await import('../../src/core/outbound/errors.js');

async function errorCode(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof OutboundError) {
      return error.code;
    }
    throw error;
  }
  throw new Error('expected the request to be rejected');
}

/** Waits until the mocked `dns.lookup` has been called `count` times in all. */
async function lookupsStarted(count: number): Promise<void> {
  await vi.waitFor(() => expect(lookups).toHaveLength(count));
}

afterEach(() => {
  for (const lookup of lookups.splice(0)) {
    lookup.settle();
  }
});

describe('system resolver', () => {
  it('caps look-ups that never return', async () => {
    const client = new OutboundClient({ timeoutMs: 100 });
    const hosts = ['a.slow.example', 'b.slow.example', 'c.slow.example', 'd.slow.example'];

    const codes = await Promise.all(hosts.map((host) => errorCode(client.fetch(`https://${host}/`))));

    expect(codes).toEqual(['OUTBOUND_TIMEOUT', 'OUTBOUND_TIMEOUT', 'OUTBOUND_TIMEOUT', 'OUTBOUND_TIMEOUT']);
    expect(lookups.map((lookup) => lookup.hostname)).toEqual(['a.slow.example', 'b.slow.example']);
  });

  it('starts a waiting look-up once one returns', async () => {
    const client = new OutboundClient({ timeoutMs: 5000 });
    const first = errorCode(client.fetch('https://a.slow.example/'));
    const second = errorCode(client.fetch('https://b.slow.example/'));
    const third = errorCode(client.fetch('https://c.slow.example/'));
    await lookupsStarted(2);

    lookups[0]?.settle();
    await lookupsStarted(3);

    expect(lookups[2]?.hostname).toBe('c.slow.example');
    expect(await first).toBe('OUTBOUND_BLOCKED_ADDRESS');
    lookups[1]?.settle();
    lookups[2]?.settle();
    expect(await second).toBe('OUTBOUND_BLOCKED_ADDRESS');
    expect(await third).toBe('OUTBOUND_BLOCKED_ADDRESS');
  });
});
