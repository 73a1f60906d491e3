import { createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, sign as signBytes } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { callApi, obtainTokens } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Hostile access tokens sent to the gateway. Each must end in 401 with an
 * RFC 6750 challenge and a problem body, a log line without the token, and
 * no request to the upstream.
 */

function base64url(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

let server: TestServer;
let validToken: string;
let claims: JWTPayload;
let sign: (payload: JWTPayload, header?: Record<string, unknown>) => Promise<string>;
let signRaw: (header: Record<string, unknown>, payload: JWTPayload) => string;

beforeAll(async () => {
  server = await startTestServer();
  const user = await createUser(server, 'jwt_user');
  validToken = (await obtainTokens(server, user)).tokens.access_token;
  claims = JSON.parse(Buffer.from(validToken.split('.')[1] ?? '', 'base64url').toString()) as JWTPayload;

  const active = server.running.keyRing.keys[0];
  if (active === undefined) {
    throw new Error('no active signing key');
  }
  const privateKey = await importJWK(active.privateJwk, 'ES256');
  // jose refuses to sign headers it would reject, so hostile headers are signed by hand.
  const nodeKey = createPrivateKey({ key: active.privateJwk as never, format: 'jwk' });
  signRaw = (header, payload) => {
    const input = `${base64url({ alg: 'ES256', typ: 'at+jwt', kid: active.kid, ...header })}.${base64url(payload)}`;
    const signature = signBytes('sha256', Buffer.from(input), { key: nodeKey, dsaEncoding: 'ieee-p1363' });
    return `${input}.${signature.toString('base64url')}`;
  };
  sign = (payload, header = {}) =>
    new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: active.kid, ...header }).sign(privateKey);
});

afterAll(async () => {
  await server.close();
});

function upstreamRequests(): number {
  return server.logs.filter((line) => line.includes('"component":"demo-orders-api"') && line.includes('incoming request')).length;
}

async function expectRejected(token: string): Promise<void> {
  const logsBefore = server.logs.length;
  const upstreamBefore = upstreamRequests();

  const response = await callApi(server, '/orders', token);

  expect(response.status).toBe(401);
  expect(response.headers.get('www-authenticate')).toMatch(/^Bearer realm="portcullis", error="invalid_(token|request)"/);
  expect(response.headers.get('content-type')).toContain('application/problem+json');
  const body = (await response.text()).toLowerCase();
  expect(body).not.toContain(token.toLowerCase());
  expect(upstreamRequests()).toBe(upstreamBefore);

  const newLogs = server.logs.slice(logsBefore).join('\n');
  expect(newLogs).toMatch(/access token rejected|Authorization header/);
  if (token.length > 0) {
    expect(newLogs).not.toContain(token);
  }
}

describe('token basics', () => {
  it('accepts a token it signed itself', async () => {
    const upstreamBefore = upstreamRequests();

    expect((await callApi(server, '/orders', await sign(claims))).status).toBe(200);
    expect(upstreamRequests()).toBe(upstreamBefore + 1);
  });

  it('requires a token', async () => {
    const response = await callApi(server, '/orders', undefined);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="portcullis", ApiKey realm="portcullis"');
  });

  it('rejects another issuer', async () => {
    await expectRejected(await sign({ ...claims, iss: 'https://evil.example' }));
  });

  it('rejects the wrong typ', async () => {
    await expectRejected(await sign(claims, { typ: 'JWT' }));
  });

  it('names typ as a header parameter', async () => {
    const response = await callApi(server, '/orders', await sign(claims, { typ: 'JWT' }));

    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain('error_description="The access token is invalid: the access token\'s typ header parameter is invalid."');
    expect(((await response.json()) as { detail: string }).detail).toBe('The access token is invalid: the access token\'s "typ" header parameter is invalid.');
  });

  it('rejects a malformed Authorization header', async () => {
    for (const value of [`Bearer  ${validToken}`, `Bearer ${validToken} x`, 'Bearer', `Bearer\t${validToken}`]) {
      const response = await fetch(`${server.url}/api/orders`, { headers: { authorization: value } });
      expect(response.status, value).toBe(400);
      expect(response.headers.get('www-authenticate'), value).toContain('error="invalid_request"');
      expect(((await response.json()) as { code: string }).code, value).toBe('invalid_request');
    }
  });

  it('challenges an unsupported scheme without an error', async () => {
    const response = await fetch(`${server.url}/api/orders`, { headers: { authorization: 'Basic YWxpY2U6c2VjcmV0' } });

    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="portcullis", ApiKey realm="portcullis"');
    const body = (await response.json()) as { detail: string };
    expect(body.detail).toContain("scheme 'Basic' is not supported");
    expect(body.detail).not.toContain('YWxpY2U6c2VjcmV0');
  });

  it('never repeats a credential sent without a scheme', async () => {
    const response = await fetch(`${server.url}/api/orders`, { headers: { authorization: 'S3cretT0ken-1234567' } });

    expect(response.status).toBe(401);
    const body = await response.text();
    expect(body).toContain('does not start with a supported scheme');
    expect(body).not.toContain('S3cretT0ken');
    expect(server.logs.join('\n')).not.toContain('S3cretT0ken');
  });

  it('challenges a token in the query string', async () => {
    const response = await fetch(`${server.url}/api/orders?access_token=${validToken}`);

    expect(response.status).toBe(400);
    const challenge = response.headers.get('www-authenticate') ?? '';
    expect(challenge).toMatch(/^Bearer realm="portcullis", error="invalid_request", error_description="[^"]*query string[^"]*"/);
    expect(challenge).toContain('ApiKey realm="portcullis"');
    expect(challenge).not.toContain(validToken);
  });

  it('rejects a token in the query string', async () => {
    const response = await fetch(`${server.url}/api/orders?access_token=${validToken}`);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { detail: string }).detail).toMatch(/Authorization header/);
    expect(server.logs.join('\n')).not.toContain(validToken);
  });
});

describe('unsigned token with alg none, also when the key lookup misses', () => {
  it('rejects alg none', async () => {
    await expectRejected(`${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(claims)}.`);
  });

  it('rejects alg none with an unknown kid', async () => {
    await expectRejected(`${base64url({ alg: 'none', kid: 'no-such-key' })}.${base64url(claims)}.`);
  });

  it('rejects a valid algorithm with an unknown kid', async () => {
    await expectRejected(await sign(claims, { kid: 'no-such-key' }));
  });
});

describe('empty, missing or extra signature segment', () => {
  it('rejects an HS256 header with an empty signature', async () => {
    await expectRejected(`${base64url({ alg: 'HS256', typ: 'JWT' })}.${base64url(claims)}.`);
  });

  it('rejects our header with an empty signature', async () => {
    const [header, payload] = validToken.split('.');
    await expectRejected(`${header}.${payload}.`);
  });

  it('rejects two segments', async () => {
    const [header, payload] = validToken.split('.');
    await expectRejected(`${header}.${payload}`);
  });

  it('rejects four segments', async () => {
    await expectRejected(`${validToken}.extra`);
  });
});

describe('other spellings of a valid token', () => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

  /** Returns `token` with its last character's unused bits set to `bits`. An ES256 signature of 86 characters leaves 4. */
  function withUnusedBits(token: string, bits: number): string {
    return `${token.slice(0, -1)}${alphabet[alphabet.indexOf(token.slice(-1)) | bits] as string}`;
  }

  it('accepts the canonical spelling', async () => {
    expect((await callApi(server, '/orders', validToken)).status).toBe(200);
  });

  it('rejects a padded signature', async () => {
    const padded = `${validToken}==`;
    await expectRejected(padded);

    const response = await callApi(server, '/orders', padded);
    expect(((await response.json()) as { detail: string }).detail).toBe(
      'The access token is invalid: the access token\'s signature ends in "=" padding, which a compact JWS does not use.',
    );
  });

  it('rejects changed unused bits', async () => {
    for (const bits of [1, 2, 4, 8, 15]) {
      const changed = withUnusedBits(validToken, bits);
      await expectRejected(changed);
      await expectRejected(`${changed}==`);

      const response = await callApi(server, '/orders', changed);
      expect(((await response.json()) as { detail: string }).detail, String(bits)).toContain('the unused bits of its last character are not zero');
    }
  });

  it('rejects a signature of the wrong length', async () => {
    const longer = `${validToken}AAAA`;
    await expectRejected(longer);

    const response = await callApi(server, '/orders', longer);
    expect(((await response.json()) as { detail: string }).detail).toContain('signature has the wrong length');
  });
});

describe('HS256 signed with the public key (algorithm confusion)', () => {
  // The key set contains an EC key for access tokens and an RSA key for ID tokens, and each is tried.
  it('rejects the published key as PEM with any prefix', async () => {
    expect(server.running.keyRing.publicJwks.keys.map((key) => key.kty).sort()).toEqual(['EC', 'RSA']);
    for (const publicJwk of server.running.keyRing.publicJwks.keys) {
      const pem = createPublicKey({ key: publicJwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
      const signingInput = `${base64url({ alg: 'HS256', typ: 'at+jwt', kid: publicJwk.kid })}.${base64url(claims)}`;

      for (const prefix of ['', '\n', ' ', '\u200b', '#']) {
        const mac = createHmac('sha256', `${prefix}${pem}`).update(signingInput).digest('base64url');
        await expectRejected(`${signingInput}.${mac}`);
      }
    }
  });

  it('rejects the published key as JWK JSON', async () => {
    for (const publicJwk of server.running.keyRing.publicJwks.keys) {
      const signingInput = `${base64url({ alg: 'HS256', typ: 'at+jwt', kid: publicJwk.kid })}.${base64url(claims)}`;
      const mac = createHmac('sha256', JSON.stringify(publicJwk)).update(signingInput).digest('base64url');
      await expectRejected(`${signingInput}.${mac}`);
    }
  });

  it('rejects the published key as DER bytes', async () => {
    for (const publicJwk of server.running.keyRing.publicJwks.keys) {
      const der = createPublicKey({ key: publicJwk as never, format: 'jwk' }).export({ type: 'spki', format: 'der' });
      const signingInput = `${base64url({ alg: 'HS256', typ: 'at+jwt', kid: publicJwk.kid })}.${base64url(claims)}`;

      await expectRejected(`${signingInput}.${createHmac('sha256', der).update(signingInput).digest('base64url')}`);
    }
  });

  it('rejects the published RSA key in PKCS#1 form', async () => {
    const rsaJwk = server.running.keyRing.publicJwks.keys.find((key) => key.kty === 'RSA');
    const pem = createPublicKey({ key: rsaJwk as never, format: 'jwk' }).export({ type: 'pkcs1', format: 'pem' }).toString();
    const signingInput = `${base64url({ alg: 'HS256', typ: 'at+jwt', kid: rsaJwk?.kid })}.${base64url(claims)}`;
    await expectRejected(`${signingInput}.${createHmac('sha256', pem).update(signingInput).digest('base64url')}`);
  });

  it('rejects an RSA public key in PKCS#1 form', async () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    const signingInput = `${base64url({ alg: 'HS256', typ: 'at+jwt' })}.${base64url(claims)}`;
    await expectRejected(`${signingInput}.${createHmac('sha256', pem).update(signingInput).digest('base64url')}`);
  });
});

describe('ID token key used for an access token', () => {
  it('rejects RS256 signed with our own RSA key', async () => {
    const rsa = server.running.keyRing.keys.find((key) => key.alg === 'RS256');
    if (rsa === undefined) {
      throw new Error('no RS256 signing key');
    }
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: rsa.kid }).sign(await importJWK(rsa.privateJwk, 'RS256'));
    await expectRejected(forged);
  });
});

describe('key taken from the token header', () => {
  it('rejects an embedded jwk', async () => {
    const attacker = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(attacker.publicKey);
    await expectRejected(await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', jwk }).sign(attacker.privateKey));
  });

  it('rejects an embedded jwk next to our kid', async () => {
    const attacker = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(attacker.publicKey);
    const forged = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', jwk, kid: server.running.keyRing.keys[0]?.kid })
      .sign(attacker.privateKey);
    await expectRejected(forged);
  });

  it('rejects an embedded RSA jwk with RS256', async () => {
    const attacker = await generateKeyPair('RS256', { extractable: true });
    const jwk = await exportJWK(attacker.publicKey);
    await expectRejected(await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', jwk }).sign(attacker.privateKey));
  });

  it('rejects jku and x5u pointing elsewhere', async () => {
    const attacker = await generateKeyPair('ES256');
    for (const header of [{ jku: 'https://evil.example/jwks.json' }, { x5u: 'https://evil.example/cert.pem' }]) {
      await expectRejected(await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', ...header }).sign(attacker.privateKey));
    }
  });

  it('rejects a token signed by another key with our kid', async () => {
    const attacker = await generateKeyPair('ES256');
    const forged = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: server.running.keyRing.keys[0]?.kid })
      .sign(attacker.privateKey);
    await expectRejected(forged);
  });
});

describe('ECDSA psychic signature (r = s = 0)', () => {
  it('rejects an all-zero raw signature', async () => {
    const [header, payload] = validToken.split('.');
    await expectRejected(`${header}.${payload}.${'A'.repeat(86)}`);
  });

  it('rejects r = s = the curve order', async () => {
    const [header, payload] = validToken.split('.');
    const order = Buffer.from('FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551', 'hex');
    await expectRejected(`${header}.${payload}.${Buffer.concat([order, order]).toString('base64url')}`);
  });

  it('rejects a DER-encoded zero signature', async () => {
    const [header, payload] = validToken.split('.');
    await expectRejected(`${header}.${payload}.${Buffer.from('3006020100020100', 'hex').toString('base64url')}`);
  });
});

describe('missing or non-numeric exp treated as never expiring', () => {
  it.each([
    ['missing exp', { exp: undefined }],
    ['string exp', { exp: '4102444800' }],
    ['huge exp', { exp: 1.7e308 }],
    ['null exp', { exp: null }],
    ['string nbf', { nbf: '0' }],
    ['expired', { exp: Math.floor(Date.now() / 1000) - 120, iat: Math.floor(Date.now() / 1000) - 600 }],
    ['future nbf', { nbf: Math.floor(Date.now() / 1000) + 300 }],
    ['future iat', { iat: Math.floor(Date.now() / 1000) + 100_000, exp: Math.floor(Date.now() / 1000) + 100_500 }],
  ])('rejects a token with %s', async (_name, change) => {
    await expectRejected(await sign({ ...claims, ...change } as JWTPayload));
  });
});

describe('audience compared as a substring', () => {
  it.each([
    ['a longer audience', (aud: string) => `${aud}-admin`],
    ['a prefixed audience', (aud: string) => `x${aud}`],
    ['a truncated audience', (aud: string) => aud.slice(0, -1)],
    ['an upper-case audience', (aud: string) => aud.toUpperCase()],
  ])('rejects %s', async (_name, mutate) => {
    await expectRejected(await sign({ ...claims, aud: mutate(String(claims.aud)) }));
  });
});

describe('audience check skipped for arrays', () => {
  it.each([
    ['another audience in an array', () => ['https://other.example/api']],
    ['an empty array', () => []],
    ['a nested array', (aud: string) => [[aud]]],
    ['a number in an array', () => [123]],
    ['an object', (aud: string) => ({ 0: aud })],
    ['two audiences', (aud: string) => [aud, 'https://other.example/api']],
  ])('rejects %s', async (_name, mutate) => {
    await expectRejected(await sign({ ...claims, aud: mutate(String(claims.aud)) as never }));
  });

  it('rejects a token without aud', async () => {
    await expectRejected(await sign({ ...claims, aud: undefined }));
  });
});

describe('unknown crit header parameters', () => {
  it.each([
    [{ crit: ['b64'], b64: false }],
    [{ crit: ['x-require-mfa'], 'x-require-mfa': true }],
    [{ crit: [] }],
    [{ crit: ['alg'] }],
  ])('rejects crit %j', async (header) => {
    await expectRejected(signRaw(header, claims));
  });

  it('accepts a hand-signed token without crit', async () => {
    expect((await callApi(server, '/orders', signRaw({}, claims))).status).toBe(200);
  });
});
