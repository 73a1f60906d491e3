import { describe, expect, it } from 'vitest';

import { loggedHttpApp } from '../support/http-app.js';

describe('HTTP app trusted proxies', () => {
  it('rejects catch-all ranges', () => {
    for (const range of ['0.0.0.0/0', '::/0', '::ffff:0:0/96']) {
      expect(() => loggedHttpApp({ https: false, trustedProxies: ['10.0.0.5', range] }), range).toThrow(
        `trustedProxies/1: '${range}' is too broad for a trusted proxy`,
      );
    }
  });

  it('rejects entries that are no address', () => {
    expect(() => loggedHttpApp({ https: false, trustedProxies: ['proxy.example'] })).toThrow(
      "trustedProxies/0: 'proxy.example' is not an IP address or CIDR range",
    );
  });

  it('accepts proxies in standard notation', async () => {
    const { app } = loggedHttpApp({ https: false, trustedProxies: ['10.0.0.0/8', '192.0.2.1', 'fc00::/7'] });

    await app.close();
  });
});
