import Provider from 'oidc-provider';
import { describe, expect, it } from 'vitest';

import { checkNativeRedirectUri, checkRedirectUri, isPrivateUseScheme } from '../../src/core/redirect-uri-rules.js';

/** Validates the URI with oidc-provider's client schema as a native public client's, and returns the error description. */
async function oidcProviderProblem(provider: Provider, uri: string): Promise<string | undefined> {
  try {
    await provider.Client.validate({
      client_id: 'native-app',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [uri],
    });
    return undefined;
  } catch (error) {
    return (error as { error_description?: string }).error_description ?? String(error);
  }
}

const ACCEPTED_PRIVATE_USE = [
  'com.example.app:/oauth2redirect',
  'com.example.app:/oauth2redirect/example-provider',
  'com.example.app:/',
  'com.example.app:/callback?tenant=a',
  'net.example.usercontent.client1234:/callback',
  'com.example.my-app:/callback',
  'com.example.app2:/callback',
];

describe('private-use scheme for native clients', () => {
  it.each(ACCEPTED_PRIVATE_USE)('accepts %s', (uri) => {
    expect(checkNativeRedirectUri(uri)).toBeUndefined();
  });

  it.each([
    ['a scheme without a period', 'myapp:/callback', "scheme 'myapp', which is not a domain name in reverse order"],
    ['an empty label', 'com..app:/callback', "scheme 'com..app', which is not a domain name in reverse order"],
    ['a trailing period', 'com.example.:/callback', "scheme 'com.example.', which is not a domain name in reverse order"],
    ['a plus sign', 'com.example+app:/callback', "scheme 'com.example+app', which is not a domain name in reverse order"],
    ['a label ending in a hyphen', 'com.example-:/callback', "scheme 'com.example-', which is not a domain name in reverse order"],
    ['javascript', 'javascript:alert(1)', 'uses the javascript scheme, which the browser or operating system handles itself'],
    ['data', 'data:text/html,<b>x</b>', 'uses the data scheme'],
    ['file', 'file:///etc/passwd', 'uses the file scheme'],
    ['vbscript', 'vbscript:msgbox(1)', 'uses the vbscript scheme'],
    ['blob', 'blob:https://app.example.com/1', 'uses the blob scheme'],
    ['about', 'about:blank', 'uses the about scheme'],
    ['mailto', 'mailto:owner@example.com', 'uses the mailto scheme'],
    ['an authority', 'com.example.app://oauth2redirect', "register it with one slash after the colon, as 'com.example.app:/oauth2redirect'"],
    ['an empty authority', 'com.example.app:///oauth2redirect', "register it with one slash after the colon, as 'com.example.app:/oauth2redirect'"],
    ['user info', 'com.example.app://user@app.example.com/callback', 'must not contain a user name or password'],
    ['a password', 'com.example.app://user:secret@callback', 'must not contain a user name or password'],
    ['a fragment', 'com.example.app:/callback#section', 'must not contain a fragment'],
    ['an empty fragment', 'com.example.app:/callback#', 'must not contain a fragment'],
    ['a wildcard', 'com.example.app:/*', 'must not contain wildcards'],
    ['a path without a slash', 'com.example.app:callback', "must have a path that starts with one slash after the colon, such as 'com.example.app:/oauth2redirect'"],
    ['no path', 'com.example.app:', 'must have a path that starts with one slash'],
    ['an upper-case scheme', 'Com.Example.App:/callback', "not in canonical form; register it as 'com.example.app:/callback'"],
    ['a dot segment', 'com.example.app:/a/../callback', "not in canonical form; register it as 'com.example.app:/callback'"],
    ['a space', 'com.example.app:/call back', "not in canonical form; register it as 'com.example.app:/call%20back'"],
  ])('rejects %s', (_case, uri, reason) => {
    const problem = checkNativeRedirectUri(uri);

    expect(problem).toContain(`'${uri}'`);
    expect(problem).toContain(reason);
  });

  it('keeps the loopback and claimed https rules', () => {
    expect(checkNativeRedirectUri('http://127.0.0.1/callback')).toBeUndefined();
    expect(checkNativeRedirectUri('https://app.example.com/callback')).toBeUndefined();
    expect(checkNativeRedirectUri('http://localhost/callback')).toContain('names 127.0.0.1 or [::1]');
  });

  it('rejects a URI that is not absolute', () => {
    expect(checkNativeRedirectUri('/callback')).toContain('is not an absolute URL');
  });
});

describe('private-use scheme for web clients', () => {
  it('rejects it with a hint', () => {
    const problem = checkRedirectUri('com.example.app:/oauth2redirect');

    expect(problem).toContain('must use https (or http on a loopback host)');
    expect(problem).toContain('accepted only for native app clients');
  });

  it('rejects other schemes without the hint', () => {
    const problem = checkRedirectUri('javascript:alert(1)');

    expect(problem).toContain('must use https (or http on a loopback host)');
    expect(problem).not.toContain('native');
  });
});

describe('host of a redirect URI', () => {
  it.each([
    ['a semicolon', 'https://app.example;sandbox/callback', 'app.example;sandbox'],
    ['a comma', 'https://app,example.com/callback', 'app,example.com'],
    ['a quote', "https://app'example.com/callback", "app'example.com"],
    ['an underscore', 'https://app_1.example.com/callback', 'app_1.example.com'],
    ['an empty label', 'https://app..example.com/callback', 'app..example.com'],
  ])('rejects a host with %s', (_case, uri, host) => {
    for (const check of [checkRedirectUri, checkNativeRedirectUri]) {
      const problem = check(uri);

      expect(problem).toContain(`has the host '${host}', which is not a DNS name or IP address`);
    }
  });

  it.each([
    'https://app.example.com/callback',
    'https://app.example.com./callback',
    'https://xn--bcher-kva.example/callback',
    'https://192.0.2.10/callback',
    'https://[2001:db8::1]/callback',
    'http://[::1]:8000/callback',
  ])('accepts %s', (uri) => {
    expect(checkRedirectUri(uri)).toBeUndefined();
  });
});

describe('query of a redirect URI', () => {
  it.each([
    ['https://app.example.com/callback?code=x', 'code'],
    ['https://app.example.com/callback?tenant=a&state=fixed', 'state'],
    ['https://app.example.com/callback?c%6Fde=x', 'code'],
    ['http://127.0.0.1:8000/callback?iss=https%3A%2F%2Fevil.example', 'iss'],
    ['https://app.example.com/callback?error=x&error_description=y', 'error, error_description'],
    ['com.example.app:/callback?error_uri=x', 'error_uri'],
  ])('rejects %s', (uri, names) => {
    const checks = uri.startsWith('com.') ? [checkNativeRedirectUri] : [checkRedirectUri, checkNativeRedirectUri];
    for (const check of checks) {
      expect(check(uri)).toContain(`has the query parameter ${names}, which the authorization response sets`);
    }
  });

  it('accepts other parameters', () => {
    expect(checkRedirectUri('https://app.example.com/callback?tenant=a&codes=1')).toBeUndefined();
  });
});

describe('isPrivateUseScheme', () => {
  it.each(['com.example.app', 'net.example.usercontent.client1234', 'com.example.my-app', 'io.x'])('accepts %s', (scheme) => {
    expect(isPrivateUseScheme(scheme)).toBe(true);
  });

  it.each(['myapp', 'com.', '.com', 'com..app', 'com.-app', 'com.example+app', 'Com.Example', `com.${'a'.repeat(64)}`])('rejects %s', (scheme) => {
    expect(isPrivateUseScheme(scheme)).toBe(false);
  });
});

describe('agreement with oidc-provider', () => {
  const provider = new Provider('http://127.0.0.1:1', {});

  it.each(ACCEPTED_PRIVATE_USE)('oidc-provider accepts %s', async (uri) => {
    expect(await oidcProviderProblem(provider, uri)).toBeUndefined();
  });

  // oidc-provider rejects these schemes for native clients, so a client that
  // the CLI registered with one of them would fail to load.
  it.each(['javascript:alert(1)', 'vbscript:msgbox(1)', 'data:text/plain,x', 'blob:https://app.example.com/1', 'file:///callback', 'about:blank'])(
    'both reject %s',
    async (uri) => {
      expect(await oidcProviderProblem(provider, uri)).toContain('must not use the');
      expect(checkNativeRedirectUri(uri)).toContain('which the browser or operating system handles itself');
    },
  );
});
