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

  it('replaces a credential-shaped name whole', () => {
    expect(redactUrl('/api/orders?pcs_live_abc=&limit=5')).toBe(`/api/orders?${REDACTED}&limit=5`);
    expect(redactUrl('/api/orders?pcs_live_abc=1')).toBe(`/api/orders?${REDACTED}`);
    expect(redactUrl('/api/orders?eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln=')).toBe(`/api/orders?${REDACTED}`);
  });

  it('replaces a credential in an allow-listed value', () => {
    expect(redactUrl('/api/orders?cursor=pcs_live_abc')).toBe(`/api/orders?cursor=${REDACTED}`);
    expect(redactUrl('/oauth/authorize?scope=eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln')).toBe(`/oauth/authorize?scope=${REDACTED}`);
  });

  it('replaces credentials after other text', () => {
    const key = 'pcs_live_AbCdEfGhIjKl';
    const jws = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';
    expect(redactUrl(`/api/orders?limit=10%20${key}`)).toBe(`/api/orders?limit=${REDACTED}`);
    expect(redactUrl(`/api/orders?cursor=Bearer+${jws}`)).toBe(`/api/orders?cursor=${REDACTED}`);
    expect(redactUrl(`/api/orders?%20${key}=1`)).toBe(`/api/orders?${REDACTED}`);
    expect(redactUrl(`/api/key:${key}/orders`)).toBe(`/api/${REDACTED}/orders`);
    expect(redactUrl('/api/orders?cursor=x..eyJh.eyJi.c2ln')).toBe(`/api/orders?cursor=${REDACTED}`);
    // Text with only the start of a key, or base64url JSON without the dots of a JWS, is no credential.
    expect(redactUrl('/api/orders?cursor=eyJvZmZzZXQiOjEwfQ&limit=xpcs_live_')).toBe('/api/orders?cursor=eyJvZmZzZXQiOjEwfQ&limit=xpcs_live_');
    expect(redactUrl('/api/orders?cursor=eyJh..eyJi.c2ln')).toBe('/api/orders?cursor=eyJh..eyJi.c2ln');
    expect(redactUrl('/api/orders?surveyJson.answers.0=1')).toBe(`/api/orders?surveyJson.answers.0=${REDACTED}`);
    expect(redactUrl('/docs/surveyJson.v1.md')).toBe('/docs/surveyJson.v1.md');
    expect(redactUrl(`/api/orders?cursor=x_${jws}`)).toBe(`/api/orders?cursor=${REDACTED}`);
    const repeated = 'eyJ'.repeat(5000);
    expect(redactUrl(`/api/orders?cursor=${repeated}`)).toBe(`/api/orders?cursor=${repeated}`);
  });

  it('replaces a client secret as client_id', () => {
    const secret = 'Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE';
    expect(redactUrl(`/oauth/authorize?client_id=${secret}&scope=openid`)).toBe(`/oauth/authorize?client_id=${REDACTED}&scope=openid`);
    expect(redactUrl('/oauth/authorize?client_id=kTq1bX9mN2pL4vR8sW6yZa')).toBe('/oauth/authorize?client_id=kTq1bX9mN2pL4vR8sW6yZa');
  });

  it('keeps a bare allow-listed name', () => {
    expect(redactUrl('/api/orders?limit')).toBe('/api/orders?limit');
  });

  it('replaces a credential-shaped path segment', () => {
    expect(redactUrl('/api/pcs_live_abc/orders?limit=5')).toBe(`/api/${REDACTED}/orders?limit=5`);
    expect(redactUrl('/api/orders/eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln')).toBe(`/api/orders/${REDACTED}`);
    expect(redactUrl('/api/orders/pcs%5Flive%5Fabc')).toBe(`/api/orders/${REDACTED}`);
    expect(redactUrl('/api/orders/%70cs_live_abc')).toBe(`/api/orders/${REDACTED}`);
    expect(redactUrl('/api/orders/ey%4AhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln')).toBe(`/api/orders/${REDACTED}`);
    expect(redactUrl('/api/orders/%E0%A4%A')).toBe('/api/orders/%E0%A4%A');
  });

  it('replaces a token with base64 padding', () => {
    // jose decodes the signature with atob, which accepts the padding, so the gateway accepts such a token.
    const padded = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl==';
    expect(redactUrl(`/api/orders/${padded}`)).toBe(`/api/orders/${REDACTED}`);
    expect(redactUrl(`/api/orders/${padded.replace('==', '%3D%3D')}`)).toBe(`/api/orders/${REDACTED}`);
    expect(redactUrl(`/api/orders?cursor=${padded}`)).toBe(`/api/orders?cursor=${REDACTED}`);
    expect(redactUrl(`/api/orders?scope=${padded.replace('==', '%3D%3D')}`)).toBe(`/api/orders?scope=${REDACTED}`);
  });

  it('keeps empty pairs and paths without a query', () => {
    expect(redactUrl('/api/orders?&limit=5')).toBe('/api/orders?&limit=5');
    expect(redactUrl('/api/orders')).toBe('/api/orders');
  });
});
