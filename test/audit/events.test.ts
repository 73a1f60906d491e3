import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import type { AuditEventType, AuditRecord } from '../../src/audit/events.js';
import { assembleApiKey, generateApiKey } from '../../src/core/api-keys/format.js';
import { generateClientSecret } from '../../src/core/client-secrets.js';
import { AuditRepository } from '../../src/store/audit-repository.js';
import { createUser } from '../support/accounts.js';
import { runCli } from '../support/cli.js';
import { authorize, callApi, obtainTokens, openSignInPage, publicClient } from '../support/oauth.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { UserAgent, formEndingWith } from '../support/user-agent.js';

const JSON_HEADERS = { 'content-type': 'application/json' };

/** Tests that spawn several CLI processes, each of which compiles the sources with tsx. */
const CLI_TEST_TIMEOUT_MS = 90_000;

describe('audit events', () => {
  let server: TestServer;
  let alice: { id: string; username: string; password: string };
  const secrets: string[] = [];

  beforeAll(async () => {
    server = await startTestServer();
    alice = await createUser(server, 'audited_alice');
    secrets.push(alice.password, server.admin.password);
  });

  afterAll(async () => {
    await server.close();
  });

  async function stored(type: AuditEventType): Promise<AuditRecord[]> {
    await server.running.observability.audit.flush();
    return new AuditRepository(server.running.db).query({ since: 0, types: [type], limit: 1000 });
  }

  /** Waits until exactly `count` events of `type` are stored, and returns them oldest first. */
  async function expectStored(type: AuditEventType, count: number): Promise<AuditRecord[]> {
    return vi.waitFor(
      async () => {
        const records = await stored(type);
        expect(records).toHaveLength(count);
        return records.reverse();
      },
      { timeout: 5000, interval: 100 },
    );
  }

  it('records failed and successful sign-ins', async () => {
    const { agent, html } = await openSignInPage(server);
    const { response } = await agent.submit(formEndingWith(html, '/login'), { username: alice.username, password: 'Wrong-Passw0rd-1' });
    expect(response.status).toBe(401);

    const failed = await expectStored('login.failed', 1);
    expect(failed[0]).toMatchObject({ outcome: 'failure', actor: alice.id, clientId: server.demoClientId, reason: 'invalid_credentials' });
    expect(failed[0]?.sourceAddress).toBe('127.0.0.1');
    expect(failed[0]?.requestId).toMatch(/^[0-9a-f-]{36}$/);

    const { tokens } = await obtainTokens(server, alice);
    secrets.push(tokens.access_token, tokens.refresh_token ?? '', tokens.id_token ?? '');

    const succeeded = await expectStored('login.succeeded', 1);
    expect(succeeded[0]).toMatchObject({ outcome: 'success', actor: alice.id, clientId: server.demoClientId });
    const consent = await expectStored('consent.granted', 1);
    expect(consent[0]).toMatchObject({ outcome: 'success', actor: alice.id, clientId: server.demoClientId });
    const issued = await expectStored('token.issued', 1);
    expect(issued[0]).toMatchObject({ outcome: 'success', actor: alice.id, clientId: server.demoClientId, reason: 'authorization_code' });
    expect(issued[0]?.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('stores no account for an unknown username', async () => {
    const { agent, html } = await openSignInPage(server);
    await agent.submit(formEndingWith(html, '/login'), { username: 'Typed-Passw0rd-In-Username', password: 'Wrong-Passw0rd-1' });

    const failed = await expectStored('login.failed', 2);
    expect(failed[1]?.actor).toBeNull();
    expect(JSON.stringify(failed)).not.toContain('Typed-Passw0rd-In-Username');
  });

  it('records refresh, reuse and revocation', async () => {
    const config = await publicClient(server);
    const { tokens } = await obtainTokens(server, alice, config);
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token as string);
    secrets.push(tokens.access_token, tokens.refresh_token ?? '', refreshed.access_token, refreshed.refresh_token ?? '');

    const refreshes = await expectStored('token.refreshed', 1);
    expect(refreshes[0]).toMatchObject({ outcome: 'success', actor: alice.id, clientId: server.demoClientId, reason: 'refresh_token' });

    await expect(client.refreshTokenGrant(config, tokens.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_grant' });
    const reuse = await expectStored('refresh_token.reuse_detected', 1);
    expect(reuse[0]).toMatchObject({ outcome: 'denied', actor: alice.id, clientId: server.demoClientId });
    const revokedByReuse = await expectStored('token.revoked', 1);
    expect(revokedByReuse[0]).toMatchObject({ reason: 'token_reuse', clientId: server.demoClientId });

    const { tokens: second } = await obtainTokens(server, alice, config);
    secrets.push(second.access_token, second.refresh_token ?? '');
    await client.tokenRevocation(config, second.refresh_token as string);
    const revoked = await expectStored('token.revoked', 2);
    expect(revoked[1]).toMatchObject({ outcome: 'success', actor: alice.id, clientId: server.demoClientId, reason: 'revocation_request' });
  });

  it('records gateway denials and rejections', async () => {
    const { tokens: reader } = await obtainTokens(server, { ...alice, scope: 'openid orders:read' });
    const { tokens: writer } = await obtainTokens(server, alice);
    secrets.push(reader.access_token, writer.access_token);

    expect((await callApi(server, '/orders', undefined)).status).toBe(401);
    expect((await callApi(server, '/orders', `${reader.access_token}x`)).status).toBe(401);
    const unreadable = await fetch(`${server.url}/api/orders`, { headers: { authorization: `Bearer  ${reader.access_token}` } });
    expect(unreadable.status).toBe(400);
    const basic = await fetch(`${server.url}/api/orders`, { headers: { authorization: 'Basic YWxpY2U6c2VjcmV0' } });
    expect(basic.status).toBe(401);
    const failures = await expectStored('authentication.failed', 4);
    expect(failures.map((record) => record.reason)).toEqual(['missing_credentials', 'invalid_access_token', 'malformed_credentials', 'unsupported_scheme']);
    expect(failures[1]?.detail).toContain('The access token is invalid');

    const denied = await callApi(server, '/orders', reader.access_token, { method: 'POST', headers: JSON_HEADERS, body: '{"item":"x","quantity":1}' });
    expect(denied.status).toBe(403);
    const denials = await expectStored('authorization.denied', 1);
    expect(denials[0]).toMatchObject({ outcome: 'denied', actor: alice.id, clientId: server.demoClientId, reason: 'insufficient_scope' });

    const invalid = await callApi(server, '/orders', writer.access_token, { method: 'POST', headers: JSON_HEADERS, body: '{"item":"x","quantity":"many"}' });
    expect(invalid.status).toBe(400);
    const rejected = await expectStored('request.rejected', 1);
    expect(rejected[0]).toMatchObject({ outcome: 'denied', actor: alice.id, reason: 'validation_failed' });

    // The default configuration allows each user 5 orders per hour.
    const statuses: number[] = [];
    for (let order = 0; order < 6; order += 1) {
      const response = await callApi(server, '/orders', writer.access_token, { method: 'POST', headers: JSON_HEADERS, body: '{"item":"x","quantity":1}' });
      statuses.push(response.status);
    }
    expect(statuses).toEqual([201, 201, 201, 201, 201, 429]);
    const limited = await expectStored('rate_limit.exceeded', 1);
    expect(limited[0]).toMatchObject({ outcome: 'denied', actor: alice.id, reason: 'order-creation' });
    expect(limited[0]?.detail).toContain("'order-creation'");
  });

  it('records API key management and misuse', { timeout: CLI_TEST_TIMEOUT_MS }, async () => {
    const cli = ['--json', '--data-dir', server.dataDir];
    const created = await runCli(['apikeys', 'create', '--owner', alice.username, '--name', 'ci', '--scope', 'orders:read', '--cidr', '10.0.0.0/8', ...cli]);
    expect(created.code, created.stderr).toBe(0);
    const key = JSON.parse(created.stdout) as { key: string; id: string };
    secrets.push(key.key);

    const fromElsewhere = await fetch(`${server.url}/api/orders`, { headers: { 'x-api-key': key.key } });
    expect(fromElsewhere.status).toBe(403);
    const rejected = await expectStored('api_key.address_rejected', 1);
    expect(rejected[0]).toMatchObject({ outcome: 'denied', actor: alice.id, keyId: key.id, sourceAddress: '127.0.0.1' });
    await expectStored('authorization.denied', 1);

    const rotated = await runCli(['apikeys', 'rotate', key.id, '--grace', '0', ...cli]);
    expect(rotated.code, rotated.stderr).toBe(0);
    const successor = JSON.parse(rotated.stdout) as { key: string; id: string };
    secrets.push(successor.key);
    const revoked = await runCli(['apikeys', 'revoke', successor.id, ...cli]);
    expect(revoked.code, revoked.stderr).toBe(0);

    expect((await expectStored('api_key.created', 1))[0]).toMatchObject({ actor: 'cli', keyId: key.id, detail: `owner ${alice.id}` });
    expect((await expectStored('api_key.rotated', 1))[0]).toMatchObject({ actor: 'cli', keyId: key.id, detail: `successor ${successor.id}` });
    expect((await expectStored('api_key.revoked', 1))[0]).toMatchObject({ actor: 'cli', keyId: successor.id });

    const { tokens } = await obtainTokens(server, alice);
    secrets.push(tokens.access_token);
    const viaApi = await callApi(server, '/keys', tokens.access_token, { method: 'POST', headers: JSON_HEADERS, body: '{"name":"web","scopes":["orders:read"]}' });
    expect(viaApi.status).toBe(201);
    const own = (await viaApi.json()) as { key: string; id: string };
    secrets.push(own.key);
    expect((await callApi(server, `/keys/${own.id}`, tokens.access_token, { method: 'DELETE' })).status).toBe(204);

    const createdViaApi = (await expectStored('api_key.created', 2))[1];
    expect(createdViaApi).toMatchObject({ actor: alice.id, clientId: server.demoClientId, keyId: own.id, sourceAddress: '127.0.0.1' });
    expect((await expectStored('api_key.revoked', 2))[1]).toMatchObject({ actor: alice.id, keyId: own.id });
  });

  it('records failed key changes', async () => {
    const bob = await createUser(server, 'audited_bob');
    const { tokens: bobTokens } = await obtainTokens(server, bob);
    const { tokens: aliceTokens } = await obtainTokens(server, alice);
    secrets.push(bobTokens.access_token, aliceTokens.access_token);
    const created = await callApi(server, '/keys', bobTokens.access_token, { method: 'POST', headers: JSON_HEADERS, body: '{"name":"bob","scopes":["orders:read"]}' });
    expect(created.status).toBe(201);
    const bobKey = (await created.json()) as { key: string; id: string };
    secrets.push(bobKey.key);

    const revoke = await callApi(server, `/keys/${bobKey.id}`, aliceTokens.access_token, { method: 'DELETE' });
    expect(revoke.status).toBe(404);
    const rotate = await callApi(server, `/keys/${bobKey.id}/rotate`, aliceTokens.access_token, { method: 'POST' });
    expect(rotate.status).toBe(404);

    await server.running.observability.audit.flush();
    const revocations = (await stored('api_key.revoked')).filter((record) => record.keyId === bobKey.id);
    expect(revocations).toHaveLength(1);
    expect(revocations[0]).toMatchObject({ outcome: 'failure', actor: alice.id, reason: 'not_found', requestId: revoke.headers.get('x-request-id') });
    const rotations = (await stored('api_key.rotated')).filter((record) => record.keyId === bobKey.id);
    expect(rotations).toHaveLength(1);
    expect(rotations[0]).toMatchObject({ outcome: 'failure', actor: alice.id, reason: 'not_found', requestId: rotate.headers.get('x-request-id') });
  });

  it('records client credentials tokens', async () => {
    const added = await runCli(['clients', 'add', '--name', 'Service', '--confidential', '--grant', 'client_credentials', '--scope', 'orders:read', '--json', '--data-dir', server.dataDir]);
    expect(added.code, added.stderr).toBe(0);
    const service = JSON.parse(added.stdout) as { client_id: string; client_secret: string };
    secrets.push(service.client_secret);

    const config = await client.discovery(new URL(server.issuer), service.client_id, undefined, client.ClientSecretBasic(service.client_secret), {
      execute: [client.allowInsecureRequests],
    });
    const tokens = await client.clientCredentialsGrant(config, { scope: 'orders:read' });
    secrets.push(tokens.access_token);

    // Eight authorization code flows ran before this one.
    const issued = await expectStored('token.issued', 9);
    expect(issued[8]).toMatchObject({ outcome: 'success', actor: service.client_id, clientId: service.client_id, reason: 'client_credentials' });
  });

  it('names the holder of a revoked token', async () => {
    const config = await publicClient(server);
    const { tokens } = await obtainTokens(server, alice, config);
    secrets.push(tokens.access_token, tokens.refresh_token ?? '');
    await client.tokenRevocation(config, tokens.refresh_token as string);

    const response = await callApi(server, '/orders', tokens.access_token);
    expect(response.status).toBe(401);
    const requestId = response.headers.get('x-request-id');
    await server.running.observability.audit.flush();
    const failures = (await stored('authentication.failed')).filter((record) => record.requestId === requestId);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ outcome: 'failure', actor: alice.id, clientId: server.demoClientId, reason: 'invalid_access_token' });
    expect(failures[0]?.detail).toContain('revoked');
  });

  it('lists events with the audit command', { timeout: CLI_TEST_TIMEOUT_MS }, async () => {
    const json = await runCli(['audit', '--since', '1h', '--type', 'login.failed,token.refreshed', '--json', '--data-dir', server.dataDir]);
    expect(json.code, json.stderr).toBe(0);
    const listed = JSON.parse(json.stdout) as Array<{ type: string; time: string; actor: string | null }>;
    expect(listed.map((record) => record.type).sort()).toEqual(['login.failed', 'login.failed', 'token.refreshed']);
    expect(Date.parse(listed[0]?.time ?? '')).toBeGreaterThan(Date.now() - 3_600_000);

    const text = await runCli(['audit', '--type', 'rate_limit.exceeded', '--data-dir', server.dataDir]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z\trate_limit\.exceeded\tdenied\tactor=\S+ client=\S+ address=127\.0\.0\.1 request=\S+ reason=order-creation\t/);

    const future = await runCli(['audit', '--since', new Date(Date.now() + 60_000).toISOString(), '--json', '--data-dir', server.dataDir]);
    expect(JSON.parse(future.stdout)).toEqual([]);
  });

  it('rejects bad audit command options', { timeout: CLI_TEST_TIMEOUT_MS }, async () => {
    const unknownType = await runCli(['audit', '--type', 'login.maybe', '--data-dir', server.dataDir]);
    expect(unknownType.code).toBe(1);
    expect(unknownType.stderr).toContain("unknown event type 'login.maybe'");

    const badSince = await runCli(['audit', '--since', 'yesterday', '--data-dir', server.dataDir]);
    expect(badSince.code).toBe(1);
    expect(badSince.stderr).toContain("--since must be a duration such as 15m, 1h or 7d, or an ISO 8601 time");
  });

  it('records admin actions of the CLI', { timeout: CLI_TEST_TIMEOUT_MS }, async () => {
    const cli = ['--json', '--data-dir', server.dataDir];
    const user = await runCli(['users', 'add', 'audited_admin', '--email', 'audited_admin@example.com', '--role', 'admin', ...cli], 'Admin-Passw0rd-123\n');
    expect(user.code, user.stderr).toBe(0);
    const account = JSON.parse(user.stdout) as { id: string };
    const client = await runCli(['clients', 'add', '--name', 'Audited', '--confidential', '--grant', 'client_credentials', '--scope', 'orders:read', ...cli]);
    expect(client.code, client.stderr).toBe(0);
    const registered = JSON.parse(client.stdout) as { client_id: string; client_secret: string };
    secrets.push(registered.client_secret);
    const removed = await runCli(['clients', 'remove', registered.client_id, ...cli]);
    expect(removed.code, removed.stderr).toBe(0);
    const rotated = await runCli(['keys', 'rotate', ...cli]);
    expect(rotated.code, rotated.stderr).toBe(0);
    const rotatedKeys = JSON.parse(rotated.stdout) as Array<{ kid: string; alg: string }>;

    // The other account.created event is the admin account that the start created.
    const accountsCreated = await expectStored('account.created', 2);
    expect(accountsCreated.find((record) => record.actor === 'cli')).toMatchObject({ outcome: 'success', detail: `account ${account.id} with roles admin` });
    const created = (await stored('client.created')).find((record) => record.clientId === registered.client_id);
    expect(created).toMatchObject({ outcome: 'success', actor: 'cli', detail: 'grants client_credentials' });
    expect((await expectStored('client.removed', 1))[0]).toMatchObject({ outcome: 'success', actor: 'cli', clientId: registered.client_id });
    expect((await expectStored('signing_key.rotated', 1))[0]).toMatchObject({ outcome: 'success', actor: 'cli', detail: `new keys ${rotatedKeys.map((key) => `${key.kid} (${key.alg})`).join(', ')}` });
    expect(rotatedKeys.map((key) => key.alg)).toEqual(['ES256', 'RS256']);
  });

  it('keeps secrets out of stored events and audit log lines', async () => {
    await server.running.observability.audit.flush();
    const all = await new AuditRepository(server.running.db).query({ since: 0, limit: 10_000 });
    const auditLines = server.logs.filter((line) => line.includes('"audit":{'));
    expect(auditLines.length).toBe(all.filter((record) => record.actor !== 'cli').length);

    const everything = JSON.stringify(all) + auditLines.join('\n');
    for (const secret of secrets.filter((value) => value.length >= 8)) {
      expect(everything).not.toContain(secret);
    }
  });

  it('records a confirmed sign-out only', async () => {
    const { agent } = await authorize(server, await publicClient(server), { username: alice.username, password: alice.password, scope: 'openid' });

    const staying = await agent.follow(`${server.url}/oauth/logout`);
    await agent.submit(formEndingWith(await staying.response.text(), '/confirm'), {});
    expect(await stored('logout.succeeded')).toHaveLength(0);

    const leaving = await agent.follow(`${server.url}/oauth/logout`);
    await agent.submit(formEndingWith(await leaving.response.text(), '/confirm'), { logout: 'yes' });
    const [signOut] = await expectStored('logout.succeeded', 1);
    expect(signOut).toMatchObject({ outcome: 'success', actor: alice.id, sourceAddress: '127.0.0.1' });
  });
});

describe('gateway audit events', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server.close();
  });

  it('records a rejected object binding', async () => {
    const alice = await createUser(server, 'bound_alice');
    const bob = await createUser(server, 'bound_bob');
    const { tokens } = await obtainTokens(server, bob);

    const own = await callApi(server, `/users/${bob.id}/orders`, tokens.access_token);
    expect(own.status).toBe(200);
    const other = await callApi(server, `/users/${alice.id}/orders`, tokens.access_token);
    expect(other.status).toBe(404);

    await server.running.observability.audit.flush();
    const denials = await new AuditRepository(server.running.db).query({ since: 0, types: ['authorization.denied'], limit: 10 });
    expect(denials).toHaveLength(1);
    expect(denials[0]).toMatchObject({ outcome: 'denied', actor: bob.id, clientId: server.demoClientId, reason: 'object_binding' });
    expect(denials[0]?.detail).toBe('No resource matches the path parameter.');
    expect(denials[0]?.requestId).toBe(other.headers.get('x-request-id'));
  });

  it('keeps a credential used as a property name out', async () => {
    const carol = await createUser(server, 'named_carol');
    const { tokens } = await obtainTokens(server, carol);
    const created = await callApi(server, '/keys', tokens.access_token, { method: 'POST', headers: JSON_HEADERS, body: '{"name":"pasted","scopes":["orders:read"]}' });
    const { key } = (await created.json()) as { key: string };

    for (const name of [key, tokens.access_token, `key:${key}`, `Bearer ${tokens.access_token}`]) {
      const response = await callApi(server, '/orders', tokens.access_token, {
        method: 'POST',
        headers: JSON_HEADERS,
        body: JSON.stringify({ item: 'lamp', quantity: 1, nested: { [name]: true }, [name]: true }),
      });
      expect(response.status).toBe(400);
      const problem = (await response.json()) as { detail: string; errors: Array<{ pointer: string; detail: string }> };
      expect(JSON.stringify(problem)).not.toContain(name);
      expect(problem.errors).toContainEqual({ pointer: '/body/[redacted]', detail: "unknown property '[redacted]' is not allowed" });
    }

    await server.running.observability.audit.flush();
    const rejected = await new AuditRepository(server.running.db).query({ since: 0, types: ['request.rejected'], limit: 10 });
    expect(rejected).toHaveLength(4);
    const everything = JSON.stringify(rejected) + server.logs.join('\n');
    expect(everything).not.toContain(key.slice(21, 50));
    expect(everything).not.toContain(tokens.access_token.split('.')[1]);
  });

  it('keeps a repeated credential name out', async () => {
    const dave = await createUser(server, 'repeated_dave');
    const { tokens } = await obtainTokens(server, dave);
    const created = await callApi(server, '/keys', tokens.access_token, { method: 'POST', headers: JSON_HEADERS, body: '{"name":"repeated","scopes":["orders:read"]}' });
    const { key } = (await created.json()) as { key: string };
    const secretPart = key.slice(0, key.lastIndexOf('_')).slice(-43);

    const response = await callApi(server, '/orders', tokens.access_token, {
      method: 'POST',
      headers: JSON_HEADERS,
      body: `{"item":"lamp","quantity":1,"${key}":1,"${key}":2}`,
    });
    expect(response.status).toBe(400);
    const problem = (await response.json()) as { code: string; detail: string };
    expect(problem.code).toBe('invalid_json');
    expect(problem.detail).toBe("The request body is not valid JSON: the member name '[redacted]' appears twice in one object.");

    await server.running.observability.audit.flush();
    const rejected = await new AuditRepository(server.running.db).query({ since: 0, types: ['request.rejected'], limit: 10 });
    const everything = JSON.stringify(rejected) + server.logs.join('\n');
    expect(everything).not.toContain(secretPart);
  });

  /** Creates a user with an API key made through the API and revoked there. */
  async function revokedKeyOf(username: string): Promise<{ ownerId: string; key: string; id: string }> {
    const user = await createUser(server, username);
    const { tokens } = await obtainTokens(server, user);
    const created = await callApi(server, '/keys', tokens.access_token, { method: 'POST', headers: JSON_HEADERS, body: '{"name":"ended","scopes":["orders:read"]}' });
    const { key, id } = (await created.json()) as { key: string; id: string };
    expect((await callApi(server, `/keys/${id}`, tokens.access_token, { method: 'DELETE' })).status).toBe(204);
    return { ownerId: user.id, key, id };
  }

  it('names the holder of an ended key', async () => {
    const { ownerId, key, id } = await revokedKeyOf('ended_holder');
    // The same key id with another secret proves nothing, so it names no key.
    const forged = assembleApiKey('live', id, generateApiKey('live').value.slice(21, 64));

    const revoked = await fetch(`${server.url}/api/orders`, { headers: { 'x-api-key': key } });
    const guessed = await fetch(`${server.url}/api/orders`, { headers: { 'x-api-key': forged } });
    expect(revoked.status).toBe(401);
    expect(guessed.status).toBe(401);
    expect((await revoked.json()) as { detail: string }).toMatchObject({ detail: ((await guessed.json()) as { detail: string }).detail });

    await server.running.observability.audit.flush();
    const failures = await new AuditRepository(server.running.db).query({ since: 0, types: ['authentication.failed'], limit: 100 });
    const ofRevoked = failures.filter((record) => record.requestId === revoked.headers.get('x-request-id'));
    const ofGuessed = failures.filter((record) => record.requestId === guessed.headers.get('x-request-id'));
    expect(ofRevoked).toHaveLength(1);
    expect(ofRevoked[0]).toMatchObject({ outcome: 'failure', actor: ownerId, keyId: id, reason: 'rejected_api_key' });
    expect(ofGuessed).toHaveLength(1);
    expect(ofGuessed[0]).toMatchObject({ actor: null, keyId: null, reason: 'rejected_api_key' });
    expect(server.logs.some((line) => line.includes('API key rejected') && line.includes(id))).toBe(true);
  });

  it('names the credential kind of failures', async () => {
    const { key } = await revokedKeyOf('reason_erin');

    const cases: Array<{ path: string; headers: Record<string, string>; reason: string }> = [
      { path: '/orders', headers: { authorization: `ApiKey ${key}` }, reason: 'rejected_api_key' },
      { path: '/orders', headers: { 'x-api-key': key }, reason: 'rejected_api_key' },
      { path: '/admin/orders', headers: { authorization: `ApiKey ${key}` }, reason: 'rejected_api_key' },
      { path: '/orders', headers: { authorization: '' }, reason: 'missing_credentials' },
      { path: '/orders', headers: { 'x-api-key': '' }, reason: 'missing_credentials' },
    ];
    const requestIds: Array<string | null> = [];
    for (const { path, headers } of cases) {
      const response = await fetch(`${server.url}/api${path}`, { headers });
      expect(response.status, JSON.stringify(headers)).toBe(401);
      requestIds.push(response.headers.get('x-request-id'));
    }

    await server.running.observability.audit.flush();
    const failures = await new AuditRepository(server.running.db).query({ since: 0, types: ['authentication.failed'], limit: 100 });
    const reasons = requestIds.map((requestId) => failures.find((record) => record.requestId === requestId)?.reason);
    expect(reasons).toEqual(cases.map((entry) => entry.reason));
  });
});

describe('registration and consent audit events', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server.close();
  });

  async function stored(type: AuditEventType): Promise<AuditRecord[]> {
    await server.running.observability.audit.flush();
    return new AuditRepository(server.running.db).query({ since: 0, types: [type], limit: 10 });
  }

  it('records a self-registration', async () => {
    const agent = new UserAgent(server.url);
    const page = await agent.follow(`${server.url}/register`);
    const form = formEndingWith(await page.response.text(), '/register');
    const { response } = await agent.submit(form, { username: 'registered_dana', email: 'dana@example.test', password: 'Dana-Passw0rd-Long' });
    expect(response.status).toBe(201);

    // The start created the admin account, which is recorded too.
    const created = (await stored('account.created')).filter((record) => record.reason === 'registration');
    expect(created).toHaveLength(1);
    expect(created[0]).toMatchObject({ outcome: 'success', reason: 'registration', sourceAddress: '127.0.0.1' });
    expect(created[0]?.actor).toMatch(/\S/);
    expect(created[0]?.detail).toBe(`account ${created[0]?.actor} with no roles`);
    expect(JSON.stringify(created)).not.toContain('Dana-Passw0rd-Long');
  });

  it('records a consent the user denies', async () => {
    const erin = await createUser(server, 'denying_erin');
    const { agent, html } = await openSignInPage(server);
    const { response } = await agent.submit(formEndingWith(html, '/login'), { username: erin.username, password: erin.password });
    const consent = await response.text();

    const denied = await agent.submit(formEndingWith(consent, '/abort'), {});
    expect(denied.url).toContain('error=access_denied');

    const events = await stored('consent.denied');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ outcome: 'denied', actor: erin.id, clientId: server.demoClientId, reason: 'user_denied' });
  });

  it('records a sign-in the user cancels', async () => {
    const { agent, html } = await openSignInPage(server);

    const cancelled = await agent.submit(formEndingWith(html, '/abort'), {});
    expect(cancelled.url).toContain('error=access_denied');

    const events = (await stored('consent.denied')).filter((event) => event.reason === 'sign_in_cancelled');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ outcome: 'denied', actor: null, clientId: server.demoClientId });
  });

  it('records a consent denied for missing roles', async () => {
    const frank = await createUser(server, 'roleless_frank');
    const { agent, html } = await openSignInPage(server, 'openid admin');
    const { response } = await agent.submit(formEndingWith(html, '/login'), { username: frank.username, password: frank.password });
    expect(response.status).toBeLessThan(400);

    const events = (await stored('consent.denied')).filter((event) => event.actor === frank.id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ outcome: 'denied', clientId: server.demoClientId, reason: 'scopes_withheld' });
  });
});

describe('client authentication audit events', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server.close();
  });

  it('records a failed client authentication', async () => {
    const credentials = Buffer.from(`${encodeURIComponent('ghost reason=ok')}:Wrong-Secret-123`).toString('base64');
    const response = await fetch(`${server.url}/oauth/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${credentials}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    expect(response.status).toBe(401);

    const failures = await vi.waitFor(
      async () => {
        await server.running.observability.audit.flush();
        const records = await new AuditRepository(server.running.db).query({ since: 0, types: ['authentication.failed'], limit: 10 });
        expect(records).toHaveLength(1);
        return records;
      },
      { timeout: 5000, interval: 100 },
    );

    expect(failures[0]).toMatchObject({ outcome: 'failure', clientId: 'ghost reason=ok', reason: 'invalid_client', sourceAddress: '127.0.0.1' });
    expect(failures[0]?.requestId).toBe(response.headers.get('x-request-id'));
    expect(JSON.stringify(failures)).not.toContain('Wrong-Secret-123');
  });

  it('keeps a secret sent as client id out', async () => {
    // A client that swaps its id and secret in Authorization: Basic sends its secret in the place of the id.
    const secret = generateClientSecret();
    const credentials = Buffer.from(`${secret}:${server.demoClientId}`).toString('base64');
    const statuses: number[] = [];
    // Past the per-client threshold the throttle responds with 429, which records the client id too.
    for (let attempt = 0; attempt < 15 && !statuses.includes(429); attempt += 1) {
      const response = await fetch(`${server.url}/oauth/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${credentials}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
      statuses.push(response.status);
    }
    expect(statuses).toContain(401);
    expect(statuses).toContain(429);

    const events = await vi.waitFor(
      async () => {
        await server.running.observability.audit.flush();
        const records = await new AuditRepository(server.running.db).query({ since: 0, types: ['authentication.failed', 'rate_limit.exceeded'], limit: 100 });
        expect(records.filter((record) => record.type === 'rate_limit.exceeded')).toHaveLength(1);
        return records.filter((record) => record.clientId !== 'ghost reason=ok');
      },
      { timeout: 5000, interval: 100 },
    );
    for (const event of events) {
      expect(event.clientId).toBe('[redacted]');
    }
    expect(JSON.stringify(events)).not.toContain(secret);
    expect(server.logs.join('\n')).not.toContain(secret);
  });
});
