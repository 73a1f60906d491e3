import { describe, expect, it } from 'vitest';

import { extractCredential, type CredentialSource } from '../../src/gateway/credentials.js';

function source(headers: Record<string, string>): CredentialSource {
  return { headers, raw: { rawHeaders: Object.entries(headers).flat() } };
}

describe('extractCredential', () => {
  it('reports an over-long API key as too long', () => {
    const cases: Array<Record<string, string>> = [{ 'x-api-key': 'a'.repeat(8193) }, { authorization: `ApiKey ${'a'.repeat(8193)}` }];
    for (const headers of cases) {
      expect(extractCredential(source(headers))).toEqual({ kind: 'malformed', reason: 'the API key is too long: more than 8192 characters' });
    }
  });

  it('reports a key with other characters', () => {
    const result = extractCredential(source({ 'x-api-key': 'pcs_live_é' }));
    expect(result).toEqual({ kind: 'malformed', reason: 'the API key contains whitespace or characters outside printable ASCII' });
  });

  it('accepts a key at the maximum length', () => {
    expect(extractCredential(source({ 'x-api-key': 'a'.repeat(8192) }))).toEqual({ kind: 'api_key', value: 'a'.repeat(8192) });
  });
});
