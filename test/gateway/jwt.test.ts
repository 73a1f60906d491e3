import { createHmac, createPrivateKey, generateKeyPairSync, sign as signBytes } from 'node:crypto';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, importJWK, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser } from '../support/accounts.js';
import { callApi, obtainTokens } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';

function base64url(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

describe('gateway access token checks', () => {
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

  async function expectRejected(token: string): Promise<void> {
    const response = await callApi(server, '/orders', token);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer realm="portcullis", error="invalid_(token|request)"/);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    const body = (await response.text()).toLowerCase();
    expect(body).not.toContain(token.toLowerCase());
  }

  it('accepts a token it signed itself', async () => {
    expect((await callApi(server, '/orders', await sign(claims))).status).toBe(200);
  });

  it('requires a token', async () => {
    const response = await callApi(server, '/orders', undefined);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="portcullis", ApiKey realm="portcullis"');
  });

  it('rejects alg none', async () => {
    const payload = base64url(claims);
    await expectRejected(`${base64url({ alg: 'none', typ: 'JWT' })}.${payload}.`);
    await expectRejected(`${base64url({ alg: 'none', kid: 'no-such-key' })}.${payload}.`);
  });

  it('rejects missing or extra signature segments', async () => {
    const [header, payload] = validToken.split('.');
    await expectRejected(`${header}.${payload}.`);
    await expectRejected(`${header}.${payload}`);
    await expectRejected(`${validToken}.extra`);
  });

  it('rejects HS256 signed with the public key', async () => {
    const publicJwk = server.running.keyRing.publicJwks.keys[0];
    const { createPublicKey } = await import('node:crypto');
    const pem = createPublicKey({ key: publicJwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
    const signingInput = `${base64url({ alg: 'HS256', typ: 'at+jwt', kid: publicJwk?.kid })}.${base64url(claims)}`;

    for (const prefix of ['', '\n', ' ', '\u200b', '#']) {
      const mac = createHmac('sha256', `${prefix}${pem}`).update(signingInput).digest('base64url');
      await expectRejected(`${signingInput}.${mac}`);
    }
  });

  it('rejects HS256 signed with an RSA public key', async () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    const signingInput = `${base64url({ alg: 'HS256', typ: 'at+jwt' })}.${base64url(claims)}`;
    await expectRejected(`${signingInput}.${createHmac('sha256', pem).update(signingInput).digest('base64url')}`);
  });

  it('rejects a key embedded in the header', async () => {
    const attacker = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(attacker.publicKey);
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', jwk }).sign(attacker.privateKey);
    await expectRejected(forged);

    const withKid = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', jwk, kid: server.running.keyRing.keys[0]?.kid })
      .sign(attacker.privateKey);
    await expectRejected(withKid);
    expect(await exportSPKI(attacker.publicKey)).toContain('PUBLIC KEY');
  });

  it('rejects an all-zero ECDSA signature', async () => {
    const [header, payload] = validToken.split('.');
    await expectRejected(`${header}.${payload}.${'A'.repeat(86)}`);
    const order = Buffer.from('FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551', 'hex');
    await expectRejected(`${header}.${payload}.${Buffer.concat([order, order]).toString('base64url')}`);
    await expectRejected(`${header}.${payload}.${Buffer.from('3006020100020100', 'hex').toString('base64url')}`);
  });

  it('rejects a token signed by another key with our kid', async () => {
    const attacker = await generateKeyPair('ES256');
    const forged = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: server.running.keyRing.keys[0]?.kid })
      .sign(attacker.privateKey);
    await expectRejected(forged);
  });

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

  it.each([
    ['a longer audience', (aud: string) => `${aud}-admin`],
    ['a prefixed audience', (aud: string) => `x${aud}`],
    ['a truncated audience', (aud: string) => aud.slice(0, -1)],
    ['an upper-case audience', (aud: string) => aud.toUpperCase()],
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

  it('rejects another issuer', async () => {
    await expectRejected(await sign({ ...claims, iss: 'https://evil.example' }));
  });

  it('rejects the wrong typ', async () => {
    await expectRejected(await sign(claims, { typ: 'JWT' }));
  });

  it.each([
    [{ crit: ['b64'], b64: false }],
    [{ crit: ['x-require-mfa'], 'x-require-mfa': true }],
    [{ crit: [] }],
    [{ crit: ['alg'] }],
  ])('rejects unknown crit %j', async (header) => {
    await expectRejected(signRaw(header, claims));
  });

  it('accepts a hand-signed token without crit', async () => {
    expect((await callApi(server, '/orders', signRaw({}, claims))).status).toBe(200);
  });

  it('rejects a malformed Authorization header', async () => {
    for (const value of [`Bearer  ${validToken}`, `Bearer ${validToken} x`, 'Bearer', `Bearer\t${validToken}`]) {
      const response = await fetch(`${server.url}/api/orders`, { headers: { authorization: value } });
      expect(response.status).toBe(401);
    }
  });

  it('rejects a token in the query string', async () => {
    const response = await fetch(`${server.url}/api/orders?access_token=${validToken}`);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { detail: string }).detail).toMatch(/Authorization header/);
    expect(server.logs.join('\n')).not.toContain(validToken);
  });
});
