import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { defaultRateLimits } from '../../src/config/load.js';
import { createUser } from '../support/accounts.js';
import { writeConfigFile } from '../support/config-file.js';
import { fuzzRuns } from '../support/fuzz.js';
import { callApi, obtainTokens } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Random and malformed input sent to the running server. Whatever arrives,
 * the server must not fail (no 5xx, no crash), and every rejection from the
 * gateway must be an RFC 9457 problem document.
 */

const RUNS = fuzzRuns(40);
const APP_ORIGIN = 'https://app.example.test';

let server: TestServer;
let token: string;
let connectAttempts = 0;

/** Limits high enough that fuzzing never reaches them, so each property exercises the check under test. */
async function roomyLimits(): Promise<string> {
  const defaults = defaultRateLimits();
  return writeConfigFile({
    rateLimit: {
      global: { ...defaults.global, limit: 1_000_000, burst: 1_000_000 },
      signIn: { ...defaults.signIn, limit: 1_000_000, burst: 1_000_000 },
      flows: defaults.flows.map((flow) => ({ ...flow, limit: 1_000_000 })),
    },
  });
}

beforeAll(async () => {
  server = await startTestServer(
    { config: await roomyLimits(), corsOrigins: [APP_ORIGIN] },
    {
      // Random import URLs must not reach DNS or the network.
      demoOrderImport: {
        dependencies: {
          resolver: async () => ['127.0.0.1'],
          beforeConnect: () => {
            connectAttempts += 1;
            throw new Error('test stopped a connection');
          },
        },
      },
    },
  );
  token = (await obtainTokens(server, await createUser(server, 'fuzz_user'))).tokens.access_token;
});

afterAll(async () => {
  await server.close();
});

/** Header-safe text: printable ASCII plus tab, which fetch accepts in header values. */
const headerText = fc.string({ unit: fc.constantFrom(...'ABCXYZabcxyz0189-._~+/=:;,"\' \t@%{}[]()\\'.split('')), maxLength: 120 });

const base64urlJson = fc.jsonValue().map((value) => Buffer.from(JSON.stringify(value)).toString('base64url'));
const joseHeader = fc
  .record(
    {
      alg: fc.constantFrom('none', 'None', 'HS256', 'RS256', 'ES256', 'ES512', 'EdDSA', ''),
      typ: fc.constantFrom('at+jwt', 'JWT', 'jwt'),
      kid: fc.string({ maxLength: 20 }),
      crit: fc.array(fc.string({ maxLength: 8 }), { maxLength: 2 }),
      jwk: fc.record({ kty: fc.constantFrom('EC', 'RSA', 'oct'), k: fc.string({ maxLength: 10 }) }),
      b64: fc.boolean(),
    },
    { requiredKeys: ['alg'] },
  )
  .map((header) => Buffer.from(JSON.stringify(header)).toString('base64url'));
const tokenLike = fc.oneof(
  headerText,
  fc.tuple(fc.oneof(joseHeader, base64urlJson), base64urlJson, fc.base64String({ maxLength: 120 })).map((parts) => parts.join('.')),
  fc.tuple(joseHeader, base64urlJson).map((parts) => `${parts.join('.')}.`),
  fc.array(fc.stringMatching(/^[A-Za-z0-9_-]{0,20}$/), { maxLength: 6 }).map((parts) => parts.join('.')),
);

function expectProblem(response: Response, label: string): void {
  expect(response.status, label).toBeLessThan(500);
  expect(response.headers.get('content-type'), label).toContain('application/problem+json');
}

describe('gateway credentials', () => {
  it('answers any bearer token with a 4xx problem', async () => {
    await fc.assert(
      fc.asyncProperty(tokenLike, async (candidate) => {
        const response = await fetch(`${server.url}/api/orders`, { headers: { authorization: `Bearer ${candidate}` } });

        expect([400, 401], candidate).toContain(response.status);
        expectProblem(response, candidate);
      }),
      { numRuns: RUNS },
    );
  });

  it('answers any Authorization header with a 4xx problem', async () => {
    await fc.assert(
      fc.asyncProperty(headerText, async (value) => {
        const response = await fetch(`${server.url}/api/orders`, { headers: { authorization: value } });

        expect([400, 401], value).toContain(response.status);
        expectProblem(response, value);
      }),
      { numRuns: RUNS },
    );
  });

  it('answers any API key with a 4xx problem', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(headerText, headerText.map((value) => `pcs_live_${value}`), fc.stringMatching(/^pcs_(live|test)_[A-Za-z0-9]{12}_[A-Za-z0-9]{43}_[A-Za-z0-9]{6}$/)), async (key) => {
        const response = await fetch(`${server.url}/api/orders`, { headers: { 'x-api-key': key } });

        expect([400, 401], key).toContain(response.status);
        expectProblem(response, key);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('gateway CORS', () => {
  it('allows only the configured origin', async () => {
    const origin = fc.oneof(headerText, fc.webUrl().map((url) => new URL(url).origin), fc.constantFrom('null', APP_ORIGIN, `${APP_ORIGIN}.evil.example`, APP_ORIGIN.toUpperCase(), `${APP_ORIGIN}/`));

    await fc.assert(
      fc.asyncProperty(origin, async (value) => {
        const response = await callApi(server, '/orders', token, { headers: { origin: value } });
        const allowed = response.headers.get('access-control-allow-origin');

        expect(response.status, value).toBeLessThan(500);
        expect(allowed === null || (allowed === APP_ORIGIN && value === APP_ORIGIN), value).toBe(true);
        expect(response.headers.get('access-control-allow-credentials')).toBeNull();
      }),
      { numRuns: RUNS },
    );
  });
});

describe('gateway JSON bodies', () => {
  const body = fc.oneof(
    fc.json(),
    fc.string({ maxLength: 200 }),
    fc.record({ item: fc.jsonValue(), quantity: fc.jsonValue() }, { requiredKeys: [] }).map((value) => JSON.stringify(value)),
    fc.dictionary(fc.constantFrom('item', 'quantity', '__proto__', 'constructor', 'owner', 'id', 'status'), fc.jsonValue()).map((value) => JSON.stringify(value)),
  );

  it('answers any order body with 201 or a 4xx problem', async () => {
    await fc.assert(
      fc.asyncProperty(body, async (text) => {
        const response = await callApi(server, '/orders', token, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });

        if (response.status !== 201) {
          expectProblem(response, text);
        }
        expect(({} as Record<string, unknown>)['isAdmin']).toBeUndefined();
      }),
      { numRuns: RUNS },
    );
  });

  it('rejects any import body without connecting', async () => {
    const importBody = fc.oneof(
      body,
      fc.oneof(headerText, fc.webUrl({ withQueryParameters: true }), fc.string({ maxLength: 100 })).map((url) => JSON.stringify({ url })),
    );

    await fc.assert(
      fc.asyncProperty(importBody, async (text) => {
        const response = await callApi(server, '/orders/import', token, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });

        expect([400, 413, 415, 422, 502], text).toContain(response.status);
        expect(response.headers.get('content-type'), text).toContain('application/problem+json');
        expect(connectAttempts).toBe(0);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('authorization endpoint', () => {
  const parameterName = fc.constantFrom(
    'client_id',
    'redirect_uri',
    'response_type',
    'scope',
    'state',
    'code_challenge',
    'code_challenge_method',
    'prompt',
    'request',
    'request_uri',
    'resource',
    'response_mode',
    'nonce',
    'max_age',
    'claims',
    'login_hint',
  );
  const parameterValue = fc.oneof(fc.string({ maxLength: 60 }), fc.webUrl(), fc.constantFrom('code', 'token', 'S256', 'plain', 'openid orders:read', 'none', 'login', ''));

  it('redirects only to registered or own pages', async () => {
    await fc.assert(
      fc.asyncProperty(fc.dictionary(parameterName, parameterValue, { maxKeys: 8 }), fc.boolean(), async (parameters, useDemoClient) => {
        const url = new URL('/oauth/authorize', server.url);
        if (useDemoClient) {
          url.searchParams.set('client_id', server.demoClientId);
        }
        for (const [name, value] of Object.entries(parameters)) {
          url.searchParams.set(name, value);
        }

        const response = await fetch(url, { redirect: 'manual' });
        const location = response.headers.get('location');

        expect(response.status, url.href).toBeLessThan(500);
        if (location !== null) {
          const target = new URL(location, server.url);
          const ownPage = target.origin === new URL(server.url).origin && target.pathname.startsWith('/interaction/');
          expect(ownPage || location.startsWith(`${server.demoRedirectUri}?`), location).toBe(true);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('never redirects to a mutated redirect URI', async () => {
    const mutation = fc.oneof(
      fc.string({ maxLength: 20 }).map((suffix) => `${server.demoRedirectUri}${suffix}`),
      fc.string({ maxLength: 20 }).map((prefix) => `${prefix}${server.demoRedirectUri}`),
      fc.webUrl(),
      fc.tuple(fc.nat({ max: server.demoRedirectUri.length }), fc.string({ minLength: 1, maxLength: 3 })).map(
        ([index, insert]) => `${server.demoRedirectUri.slice(0, index)}${insert}${server.demoRedirectUri.slice(index)}`,
      ),
    );

    await fc.assert(
      fc.asyncProperty(mutation, async (redirectUri) => {
        fc.pre(redirectUri !== server.demoRedirectUri);
        const url = new URL('/oauth/authorize', server.url);
        url.search = new URLSearchParams({
          client_id: server.demoClientId,
          response_type: 'code',
          scope: 'openid orders:read',
          redirect_uri: redirectUri,
          code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
          code_challenge_method: 'S256',
        }).toString();

        const response = await fetch(url, { redirect: 'manual' });

        expect(response.status, redirectUri).toBe(400);
        expect(response.headers.get('location')).toBeNull();
      }),
      { numRuns: RUNS },
    );
  });
});

describe('token endpoint', () => {
  const parameterName = fc.constantFrom('grant_type', 'code', 'redirect_uri', 'code_verifier', 'client_id', 'client_secret', 'refresh_token', 'scope', 'resource', 'client_assertion', 'client_assertion_type');
  const parameterValue = fc.oneof(
    fc.string({ maxLength: 60 }),
    fc.constantFrom('authorization_code', 'refresh_token', 'client_credentials', 'password', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', ''),
    tokenLike,
  );

  it('rejects any form without a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.dictionary(parameterName, parameterValue, { maxKeys: 8 }), fc.option(headerText, { nil: undefined }), async (parameters, authorization) => {
        const response = await fetch(`${server.url}/oauth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization === undefined ? {} : { authorization }) },
          body: new URLSearchParams(parameters),
        });
        const body = (await response.json()) as { error?: string; access_token?: string };

        expect(response.status, JSON.stringify(parameters)).toBeGreaterThanOrEqual(400);
        expect(response.status, JSON.stringify(parameters)).toBeLessThan(500);
        expect(typeof body.error).toBe('string');
        expect(body.access_token).toBeUndefined();
        expect(response.headers.get('cache-control')).toContain('no-store');
      }),
      { numRuns: RUNS },
    );
  });
});
