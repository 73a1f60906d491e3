import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ProblemError } from '../../src/core/problem.js';
import { createHttpApp } from '../../src/http/create-app.js';
import { callbackHook, type RequestStep } from '../../src/http/hooks.js';
import { createLogger } from '../../src/http/logger.js';

describe('callback hooks from request steps', () => {
  const app = createHttpApp({ logger: createLogger('silent'), bodyLimit: 1024, maxHeaderSize: 8192, https: false });
  const reached: string[] = [];

  function route(path: string, step: RequestStep): void {
    app.get(path, { onRequest: callbackHook(step) }, async () => {
      reached.push(path);
      return { ok: true };
    });
  }

  beforeAll(async () => {
    route('/now', () => {});
    route('/later', () => new Promise((resolve) => setTimeout(resolve, 5)));
    route('/refused-now', () => {
      throw new ProblemError('forbidden', 'Refused at once.');
    });
    route('/refused-later', () => Promise.reject(new ProblemError('forbidden', 'Refused later.')));
    route('/thrown-null', () => {
      throw null;
    });
    route('/rejected-undefined', () => Promise.reject(undefined));
    route('/later-elsewhere', () => ({ then: (resolve: () => void) => setTimeout(resolve, 5) }) as unknown as Promise<void>);
    await app.ready();
  });

  afterAll(async () => {
    await app.close();
  });

  it.each(['/now', '/later', '/later-elsewhere'])('continues after a passing step at %s', async (path) => {
    const response = await app.inject({ method: 'GET', url: path });

    expect(response.statusCode).toBe(200);
    expect(reached).toContain(path);
  });

  it.each([
    ['/refused-now', 'Refused at once.'],
    ['/refused-later', 'Refused later.'],
  ])('ends the request at %s with a problem', async (path, detail) => {
    const response = await app.inject({ method: 'GET', url: path });

    expect(response.statusCode).toBe(403);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect(response.json()).toMatchObject({ status: 403, detail });
    expect(reached).not.toContain(path);
  });

  it.each(['/thrown-null', '/rejected-undefined'])('ends the request at %s without an Error', async (path) => {
    const response = await app.inject({ method: 'GET', url: path });

    expect(response.statusCode).toBe(500);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect(reached).not.toContain(path);
  });
});
