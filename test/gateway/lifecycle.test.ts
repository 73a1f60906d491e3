import { describe, expect, it } from 'vitest';

import { ProblemError } from '../../src/core/problem.js';
import { checkLifecycle, lifecycleHeaders, type Lifecycle } from '../../src/gateway/lifecycle.js';

const DEPRECATION = new Date('2026-01-01T00:00:00Z');
const SUNSET = new Date('2027-06-30T12:00:00Z');

describe('lifecycle headers', () => {
  it('formats Deprecation as a structured date and Sunset as an HTTP-date', () => {
    const { active } = lifecycleHeaders({ deprecation: DEPRECATION, sunset: SUNSET });
    expect(active['deprecation']).toBe('@1767225600');
    expect(active['sunset']).toBe('Wed, 30 Jun 2027 12:00:00 GMT');
    expect(active['link']).toBeUndefined();
  });

  it('adds the configured links', () => {
    const lifecycle: Lifecycle = { deprecation: DEPRECATION, sunset: SUNSET, deprecationLink: 'https://docs.example/deprecated', sunsetLink: 'https://docs.example/sunset' };
    const headers = lifecycleHeaders(lifecycle);
    expect(headers.active['link']).toBe('<https://docs.example/deprecated>; rel="deprecation", <https://docs.example/sunset>; rel="sunset"');
    expect(headers.retired['link']).toBe('<https://docs.example/sunset>; rel="sunset"');
  });

  it('sends nothing for an operation without dates', () => {
    expect(lifecycleHeaders({})).toEqual({ active: {}, retired: {} });
  });
});

describe('checkLifecycle', () => {
  const lifecycle: Lifecycle = { deprecation: DEPRECATION, sunset: SUNSET };
  const headers = lifecycleHeaders(lifecycle);

  it('returns the headers before the sunset', () => {
    expect(checkLifecycle(lifecycle, headers, new Date('2027-06-30T11:59:59Z'))).toEqual(headers.active);
  });

  it('throws 410 with the Sunset header from the sunset on', () => {
    let thrown: unknown;
    try {
      checkLifecycle(lifecycle, headers, SUNSET);
    } catch (error) {
      thrown = error;
    }

    expect(thrown).toBeInstanceOf(ProblemError);
    expect((thrown as ProblemError).status).toBe(410);
    expect((thrown as ProblemError).headers).toEqual({ sunset: 'Wed, 30 Jun 2027 12:00:00 GMT' });
  });
});
