import { describe, expect, it } from 'vitest';

import { assembleApiKey, parseApiKey } from '../../src/core/api-keys/format.js';

/** Keys assembled by the BigInt base62 encoding that the checksum used first, so that keys issued then still parse. */
const KNOWN_KEYS = [
  { environment: 'live', keyId: 'AAAAAAAAAAAA', secret: 'B'.repeat(43), key: 'pcs_live_AAAAAAAAAAAABBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB_3yzxfb' },
  { environment: 'test', keyId: '0123456789ab', secret: 'z'.repeat(43), key: 'pcs_test_0123456789abzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz_2YWGp8' },
  { environment: 'live', keyId: 'ZZZZZZZZZZZZ', secret: '0'.repeat(43), key: 'pcs_live_ZZZZZZZZZZZZ0000000000000000000000000000000000000000000_1jZE6i' },
  // Checksums below 62^5 start with zeros, as these two do.
  { environment: 'live', keyId: '111111111111', secret: 'l'.repeat(43), key: 'pcs_live_111111111111lllllllllllllllllllllllllllllllllllllllllll_00uVCn' },
  { environment: 'live', keyId: '444444444444', secret: 'm'.repeat(43), key: 'pcs_live_444444444444mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm_00i2ET' },
] as const;

describe('API key format', () => {
  it.each(KNOWN_KEYS)('assembles the known key $key', ({ environment, keyId, secret, key }) => {
    expect(assembleApiKey(environment, keyId, secret)).toBe(key);
  });

  it.each(KNOWN_KEYS)('parses the known key $key', ({ environment, keyId, key }) => {
    expect(parseApiKey(key)).toEqual({ valid: true, keyId, environment });
  });

  it('rejects a key with a changed checksum', () => {
    const key = KNOWN_KEYS[0].key.replace(/_3yzxfb$/, '_3yzxfc');

    expect(parseApiKey(key)).toEqual({ valid: false, reason: 'the API key checksum does not match; it may be mistyped or truncated' });
  });
});
