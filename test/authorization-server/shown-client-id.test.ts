import { describe, expect, it } from 'vitest';

import { showClientId } from '../../src/authorization-server/client-auth-guard.js';
import { generateApiKey } from '../../src/core/api-keys/format.js';
import { generateClientSecret } from '../../src/core/client-secrets.js';
import { REDACTED } from '../../src/core/log-redaction.js';

describe('client id in logs', () => {
  it('replaces credential-shaped client ids', () => {
    const credentials = [
      generateClientSecret(),
      generateApiKey('live').value,
      'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln',
    ];
    for (const credential of credentials) {
      expect(showClientId(credential), credential.slice(0, 4)).toBe(REDACTED);
    }
  });

  it('keeps ordinary client ids', () => {
    expect(showClientId('portcullis-demo')).toBe('portcullis-demo');
    expect(showClientId('kTq1bX9mN2pL4vR8sW6yZa')).toBe('kTq1bX9mN2pL4vR8sW6yZa');
    expect(showClientId(undefined)).toBeUndefined();
  });
});
