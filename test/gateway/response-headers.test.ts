import { describe, expect, it } from 'vitest';

import { varyWithOrigin } from '../../src/gateway/relayed-headers.js';

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
    expect(varyWithOrigin(upstream)).toBe(relayed);
  });

  it('joins repeated fields before adding Origin', () => {
    expect(varyWithOrigin(['Accept', 'Cookie'])).toBe('Accept, Cookie, Origin');
  });
});
