import { describe, expect, it } from 'vitest';

import { redirectFormTargets } from '../../src/authorization-server/interactions.js';
import { pageContentSecurityPolicy } from '../../src/authorization-server/views/layout.js';

describe('form targets of the sign-in pages', () => {
  it.each([
    ['an https URI', 'https://app.example.com/callback', ['https://app.example.com']],
    ['a loopback URI with a port', 'http://127.0.0.1:8000/callback', ['http://127.0.0.1:8000']],
    ['an IPv6 loopback URI', 'http://[::1]:8000/callback', ['http:']],
    ['a private-use scheme', 'com.example.app:/callback', ['com.example.app:']],
  ])('allows %s', (_case, uri, expected) => {
    expect(redirectFormTargets(uri)).toEqual(expected);
  });

  it.each([
    ['a semicolon', 'https://app.example;sandbox/callback'],
    ['a comma', 'https://app,example.com/callback'],
    ['a quote', "https://app'example.com/callback"],
  ])('skips a host with %s', (_case, uri) => {
    expect(redirectFormTargets(uri)).toEqual([]);
  });

  it('keeps the policy directives intact', () => {
    const policy = pageContentSecurityPolicy(redirectFormTargets('https://app.example;sandbox/callback'));

    expect(policy.split('; ')).toContain("form-action 'self'");
    expect(policy).not.toContain('sandbox');
  });
});
