import { describe, expect, it } from 'vitest';

import { clientResponseHeaders } from '../../src/gateway/forward.js';

describe('relayed Vary header', () => {
  it.each([
    ['Accept-Encoding', 'Accept-Encoding, Origin'],
    ['Accept, Cookie', 'Accept, Cookie, Origin'],
    ['X-Origin-Id', 'X-Origin-Id, Origin'],
    ['', 'Origin'],
    [' ', 'Origin'],
    ['Origin', 'Origin'],
    ['accept,ORIGIN', 'accept,ORIGIN'],
    ['Accept ,  origin ', 'Accept ,  origin '],
    ['*', '*'],
    ['Accept, *', 'Accept, *'],
  ])('turns %j into %j', (upstream, relayed) => {
    expect(clientResponseHeaders({ vary: upstream })['vary']).toBe(relayed);
  });

  it('joins repeated fields before adding Origin', () => {
    expect(clientResponseHeaders({ vary: ['Accept', 'Cookie'] as unknown as string })['vary']).toBe('Accept, Cookie, Origin');
  });
});
