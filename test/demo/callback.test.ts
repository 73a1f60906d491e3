import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DEMO_CALLBACK_PATH, demoCallback } from '../../src/demo/callback.js';
import { loggedHttpApp } from '../support/http-app.js';

describe('demo callback page', () => {
  const { app } = loggedHttpApp({ https: false });

  beforeAll(async () => {
    await app.register(demoCallback);
    await app.ready();
  });

  afterAll(async () => {
    await app.close();
  });

  async function page(query: Record<string, string>): Promise<string> {
    const response = await app.inject({ method: 'GET', url: `${DEMO_CALLBACK_PATH}?${new URLSearchParams(query).toString()}` });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/plain; charset=utf-8');
    return response.body;
  }

  it('names an OAuth error code', async () => {
    const body = await page({ error: 'access_denied', error_description: 'The user declined.' });

    expect(body).toContain("returned the error 'access_denied'");
    expect(body).not.toContain('declined');
  });

  it('never shows arbitrary error text', async () => {
    const texts = ['Your account is locked. Call +1 555 0100 to unlock it', 'a\nSecurity notice: sign in at https://evil.example', '<b>x</b>', '%zz', 'x'.repeat(200)];
    for (const error of texts) {
      const body = await page({ error });

      expect(body, error).toContain('returned an error');
      expect(body, error).not.toContain(error);
      expect(body.split('\n'), error).toHaveLength(3);
    }
  });
});
