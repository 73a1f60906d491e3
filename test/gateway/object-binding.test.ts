import { describe, expect, it } from 'vitest';

import type { Identity } from '../../src/core/identity-headers.js';
import { ProblemError } from '../../src/core/problem.js';
import { enforceBindings, satisfiesBinding, type ObjectBinding } from '../../src/gateway/object-binding.js';

const USER_BINDING: ObjectBinding = { in: 'path', name: 'userId', claim: 'sub', match: 'equals', bypassRoles: ['admin'] };
const TENANT_BINDING: ObjectBinding = { in: 'query', name: 'tenantId', claim: 'tenants', match: 'oneOf', bypassRoles: [] };

function identity(overrides: Partial<Identity> = {}): Identity {
  return { subject: 'alice', scopes: [], roles: [], clientId: 'app', credential: 'jwt', claims: { sub: 'alice', tenants: ['t1', 't2'] }, ...overrides };
}

function path(userId: string) {
  return { params: { userId }, query: {} };
}

function query(tenantId: unknown) {
  return { params: {}, query: tenantId === undefined ? {} : { tenantId } };
}

describe('object binding equals', () => {
  it('accepts the caller’s own subject', () => {
    expect(satisfiesBinding(USER_BINDING, path('alice'), identity())).toBe(true);
  });

  it('rejects another subject', () => {
    expect(satisfiesBinding(USER_BINDING, path('bob'), identity())).toBe(false);
  });

  it('compares exactly', () => {
    expect(satisfiesBinding(USER_BINDING, path('Alice'), identity())).toBe(false);
    expect(satisfiesBinding(USER_BINDING, path('alice '), identity())).toBe(false);
  });

  it('uses the key owner as subject for API keys', () => {
    const keyCaller = identity({ subject: 'owner-1', credential: 'api_key', clientId: '', claims: undefined, keyId: 'k1' });
    expect(satisfiesBinding(USER_BINDING, path('owner-1'), keyCaller)).toBe(true);
    expect(satisfiesBinding(USER_BINDING, path('alice'), keyCaller)).toBe(false);
  });

  it('lets a bypass role through', () => {
    expect(satisfiesBinding(USER_BINDING, path('bob'), identity({ roles: ['admin'] }))).toBe(true);
  });

  it('rejects a missing parameter', () => {
    expect(satisfiesBinding(USER_BINDING, { params: {}, query: {} }, identity())).toBe(false);
  });
});

describe('object binding oneOf', () => {
  it('accepts a tenant from the claim', () => {
    expect(satisfiesBinding(TENANT_BINDING, query('t2'), identity())).toBe(true);
  });

  it('rejects a tenant outside the claim', () => {
    expect(satisfiesBinding(TENANT_BINDING, query('t3'), identity())).toBe(false);
  });

  it('rejects when the claim is missing', () => {
    expect(satisfiesBinding(TENANT_BINDING, query('t1'), identity({ claims: { sub: 'alice' } }))).toBe(false);
  });

  it('rejects a claim that is not a list', () => {
    expect(satisfiesBinding(TENANT_BINDING, query('t1'), identity({ claims: { tenants: 't1' } }))).toBe(false);
  });

  it('rejects an absent query parameter', () => {
    expect(satisfiesBinding(TENANT_BINDING, query(undefined), identity())).toBe(false);
  });

  it('requires every repeated value to match', () => {
    expect(satisfiesBinding(TENANT_BINDING, query(['t1', 't2']), identity())).toBe(true);
    expect(satisfiesBinding(TENANT_BINDING, query(['t1', 't3']), identity())).toBe(false);
  });

  it('rejects an empty value', () => {
    expect(satisfiesBinding(TENANT_BINDING, query(''), identity({ claims: { tenants: [''] } }))).toBe(false);
  });
});

describe('object binding name variants', () => {
  it.each([['TenantId'], ['tenantid'], ['tenantId[]'], ['tenantId[0]'], ['TENANTID[x]'], ['tenantId.x'], ['tenantId[a]b']])('rejects a query binding with %s', (name) => {
    expect(satisfiesBinding(TENANT_BINDING, { params: {}, query: { tenantId: 't1', [name]: 't3' } }, identity())).toBe(false);
  });

  it.each([['userId'], ['USERID'], ['userId[]']])('rejects a path binding with query %s', (name) => {
    expect(satisfiesBinding(USER_BINDING, { params: { userId: 'alice' }, query: { [name]: 'bob' } }, identity())).toBe(false);
  });

  // PHP stores these names in $_GET as tenant_id, as an array of it, or in another case.
  it.each([['tenant.id'], ['tenant id'], ['  tenant_id'], ['tenant[id'], ['Tenant.Id[x]'], ['tenant.id[]']])('rejects a PHP spelling %s', (name) => {
    const binding: ObjectBinding = { ...TENANT_BINDING, name: 'tenant_id' };
    expect(satisfiesBinding(binding, { params: {}, query: { tenant_id: 't1', [name]: 't3' } }, identity())).toBe(false);
  });

  it('accepts names that PHP keeps apart', () => {
    const binding: ObjectBinding = { ...TENANT_BINDING, name: 'tenant_id' };
    expect(satisfiesBinding(binding, { params: {}, query: { tenant_id: 't1', 'tenant[id]': 't3', 'tenant.ids': 't4', tenant: 't5' } }, identity())).toBe(true);
  });

  it('accepts unrelated query parameters', () => {
    expect(satisfiesBinding(TENANT_BINDING, { params: {}, query: { tenantId: 't1', tenantIds: 't3', tenantIdx: 't4', limit: '5' } }, identity())).toBe(true);
    expect(satisfiesBinding(USER_BINDING, { params: { userId: 'alice' }, query: { user: 'bob' } }, identity())).toBe(true);
  });
});

describe('enforceBindings', () => {
  it('passes when every binding holds', () => {
    expect(() => enforceBindings([USER_BINDING, TENANT_BINDING], { params: { userId: 'alice' }, query: { tenantId: 't1' } }, identity())).not.toThrow();
  });

  it('throws 404 naming the parameter location', () => {
    let thrown: unknown;
    try {
      enforceBindings([USER_BINDING], path('bob'), identity());
    } catch (error) {
      thrown = error;
    }

    expect(thrown).toBeInstanceOf(ProblemError);
    expect((thrown as ProblemError).status).toBe(404);
    expect((thrown as ProblemError).message).toBe('No resource matches the path parameter.');
  });

  it('reports the failed binding', () => {
    const rejected: ObjectBinding[] = [];
    expect(() => enforceBindings([TENANT_BINDING, USER_BINDING], { params: { userId: 'bob' }, query: { tenantId: 't1' } }, identity(), (binding) => rejected.push(binding))).toThrow(ProblemError);
    expect(rejected).toEqual([USER_BINDING]);
  });

  it('passes without bindings', () => {
    expect(() => enforceBindings([], path('bob'), identity())).not.toThrow();
  });
});
