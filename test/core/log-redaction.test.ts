import { describe, expect, it } from 'vitest';

import { REDACTED, redactUrl } from '../../src/core/log-redaction.js';

describe('request target redaction', () => {
  it('keeps allow-listed values', () => {
    expect(redactUrl('/oauth/authorize?client_id=app&scope=openid')).toBe('/oauth/authorize?client_id=app&scope=openid');
  });

  it('replaces other values', () => {
    expect(redactUrl('/api/orders?code=secret&limit=5')).toBe(`/api/orders?code=${REDACTED}&limit=5`);
  });

  it('replaces a bare name whole', () => {
    expect(redactUrl('/api/orders?pcs_live_abc&limit=5')).toBe(`/api/orders?${REDACTED}&limit=5`);
  });

  it('keeps a bare allow-listed name', () => {
    expect(redactUrl('/api/orders?limit')).toBe('/api/orders?limit');
  });

  it('keeps empty pairs and paths without a query', () => {
    expect(redactUrl('/api/orders?&limit=5')).toBe('/api/orders?&limit=5');
    expect(redactUrl('/api/orders')).toBe('/api/orders');
  });
});
