import { describe, expect, it } from 'vitest';

import { UpstreamLinkRewriter } from '../../src/gateway/upstream-links.js';

describe('upstream link rewriter', () => {
  const links = new UpstreamLinkRewriter(new URL('http://10.0.0.5:3000/v1/'), 'https://gw.example.test', '/api');

  it.each([
    ['http://10.0.0.5:3000/v1/orders/5', 'https://gw.example.test/api/orders/5'],
    ['http://10.0.0.5:3000/v1', 'https://gw.example.test/api'],
    ['HTTP://10.0.0.5:3000/v1/orders?page=2#x', 'https://gw.example.test/api/orders?page=2#x'],
    ['/v1/orders?page=2', '/api/orders?page=2'],
    ['/v1', '/api'],
    ['//10.0.0.5:3000/v1/orders', '/api/orders'],
    ['\\v1\\orders', '/api/orders'],
  ])('rewrites %s', (uri, expected) => {
    expect(links.rewrite(uri)).toBe(expected);
  });

  it.each([
    ['another path on the upstream', 'http://10.0.0.5:3000/admin'],
    ['a longer first segment', 'http://10.0.0.5:3000/v10/orders'],
    ['another port', 'http://10.0.0.5:3001/v1/orders'],
    ['another scheme', 'https://10.0.0.5:3000/v1/orders'],
    ['a path outside the base path', '/admin'],
    ['a relative path reference', 'orders/5'],
    ['a network-path reference to another host', '//login.example/v1/orders'],
    ['an invalid URL', 'http://['],
  ])('keeps %s', (_case, uri) => {
    expect(links.rewrite(uri)).toBe(uri);
  });

  it.each([
    ['0; url=http://10.0.0.5:3000/v1/orders', '0; url=https://gw.example.test/api/orders'],
    ["5;URL='http://10.0.0.5:3000/v1/orders'", "5;URL='https://gw.example.test/api/orders'"],
    ['1, http://10.0.0.5:3000/v1/orders', '1, https://gw.example.test/api/orders'],
    ['0; url=https://login.example/', '0; url=https://login.example/'],
    ['30', '30'],
    ['0;url=/v1/orders', '0;url=/api/orders'],
    ['0; url="http://10.0.0.5:3000/v1/orders"  ', '0; url="https://gw.example.test/api/orders"  '],
    ["0; url='http://10.0.0.5:3000/v1/o'rders'", "0; url='http://10.0.0.5:3000/v1/o'rders'"],
  ])('rewrites the Refresh value %s', (value, expected) => {
    expect(links.rewriteRefresh(value)).toBe(expected);
  });

  it('reads long link values linearly', () => {
    const spaces = ' '.repeat(200_000);
    const started = performance.now();

    expect(links.rewriteRefresh(`0;url=a${spaces}b"`)).toBe(`0;url=a${spaces}b"`);
    expect(links.rewriteLinks('<'.repeat(200_000))).toBe('<'.repeat(200_000));
    expect(links.rewriteLinks(`"${'\\"'.repeat(50_000)}`)).toBe(`"${'\\"'.repeat(50_000)}`);
    // Scans quadratic in the length take seconds on these values.
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('rewrites each Link reference', () => {
    const value = '<http://10.0.0.5:3000/v1/orders?page=3>; rel="next", <https://docs.example/>; rel="help"';

    expect(links.rewriteLinks(value)).toBe('<https://gw.example.test/api/orders?page=3>; rel="next", <https://docs.example/>; rel="help"');
  });

  it('rewrites Link anchors, not titles', () => {
    const value = '</v1/orders/5>; rel="up"; anchor="http://10.0.0.5:3000/v1/orders/5/items"; title="see <http://10.0.0.5:3000/v1/>"';

    expect(links.rewriteLinks(value)).toBe('</api/orders/5>; rel="up"; anchor="https://gw.example.test/api/orders/5/items"; title="see <http://10.0.0.5:3000/v1/>"');
  });
});
