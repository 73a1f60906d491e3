import { describe, expect, it } from 'vitest';

import type { Identity } from '../../src/core/identity-headers.js';
import { ProblemError } from '../../src/core/problem.js';
import { enforceBindings, pointerTokens, satisfiesBinding, type ObjectBinding } from '../../src/gateway/object-binding.js';

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

  // ASP.NET Core compares query and form names with OrdinalIgnoreCase,
  // which reads the dotless i as I and the long s as S.
  it.each([['tenant\u0131d'], ['TENANT\u0131D'], ['tenant\u0131d[]']])('rejects a query binding with %s', (name) => {
    expect(satisfiesBinding(TENANT_BINDING, { params: {}, query: { [name]: 't3', tenantId: 't1' } }, identity())).toBe(false);
  });

  it.each([['u\u017ferId'], ['U\u017fERID']])('rejects a path binding with query %s', (name) => {
    expect(satisfiesBinding(USER_BINDING, { params: { userId: 'alice' }, query: { [name]: 'bob' } }, identity())).toBe(false);
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

describe('object binding body', () => {
  const ACCOUNT_BINDING: ObjectBinding = { in: 'body', name: '/source/account', claim: 'tenants', match: 'oneOf', bypassRoles: ['admin'] };

  function body(value: unknown) {
    return { params: {}, query: {}, body: value };
  }

  it('accepts a member from the claim', () => {
    expect(satisfiesBinding(ACCOUNT_BINDING, body({ source: { account: 't1' } }), identity())).toBe(true);
  });

  it('rejects a member outside the claim', () => {
    expect(satisfiesBinding(ACCOUNT_BINDING, body({ source: { account: 't3' } }), identity())).toBe(false);
  });

  it.each([
    ['no body', undefined],
    ['a missing member', { source: {} }],
    ['a missing parent', { account: 't1' }],
    ['a parent that is text', { source: 't1' }],
    ['a null member', { source: { account: null } }],
    ['an empty member', { source: { account: '' } }],
    ['a member in another case too', { source: { account: 't1', ACCOUNT: 't3' } }],
    ['a parent in another case too', { source: { account: 't1' }, Source: { account: 't3' } }],
    // Go's encoding/json matches names by Unicode case folding, in which the long s (U+017F) is an s.
    ['a parent with a long s too', { source: { account: 't1' }, '\u017Fource': { account: 't3' } }],
  ])('rejects %s', (_case, value) => {
    expect(satisfiesBinding(ACCOUNT_BINDING, body(value), identity({ claims: { tenants: ['t1', ''] } }))).toBe(false);
  });

  it('compares integers in decimal', () => {
    const caller = identity({ claims: { tenants: ['42'] } });
    expect(satisfiesBinding(ACCOUNT_BINDING, body({ source: { account: 42 } }), caller)).toBe(true);
    expect(satisfiesBinding(ACCOUNT_BINDING, body({ source: { account: 42.5 } }), identity({ claims: { tenants: ['42.5'] } }))).toBe(false);
    expect(satisfiesBinding(ACCOUNT_BINDING, body({ source: { account: 2 ** 60 } }), identity({ claims: { tenants: [String(2 ** 60)] } }))).toBe(false);
  });

  it('requires every array element to match', () => {
    const binding: ObjectBinding = { ...ACCOUNT_BINDING, name: '/accounts' };
    expect(satisfiesBinding(binding, body({ accounts: ['t1', 't2'] }), identity())).toBe(true);
    expect(satisfiesBinding(binding, body({ accounts: ['t1', 't3'] }), identity())).toBe(false);
    expect(satisfiesBinding(binding, body({ accounts: [] }), identity())).toBe(false);
  });

  it('follows array indexes', () => {
    const binding: ObjectBinding = { ...ACCOUNT_BINDING, name: '/legs/0/account' };
    expect(satisfiesBinding(binding, body({ legs: [{ account: 't1' }] }), identity())).toBe(true);
    expect(satisfiesBinding(binding, body({ legs: [] }), identity())).toBe(false);
    expect(satisfiesBinding({ ...binding, name: '/legs/00/account' }, body({ legs: [{ account: 't1' }] }), identity())).toBe(false);
  });

  it('reads escaped pointer tokens', () => {
    expect(pointerTokens('/a~1b/c~0d/~01')).toEqual(['a/b', 'c~d', '~1']);
    const binding: ObjectBinding = { ...ACCOUNT_BINDING, name: '/tenant~1id' };
    expect(satisfiesBinding(binding, body({ 'tenant/id': 't1' }), identity())).toBe(true);
  });

  it('rejects a member spelled with a dotless i', () => {
    const binding: ObjectBinding = { ...ACCOUNT_BINDING, name: '/tenantId' };
    expect(satisfiesBinding(binding, body({ tenantId: 't1' }), identity())).toBe(true);
    // Java's String.equalsIgnoreCase takes the dotless i (U+0131) for an i, because both upper-case to I.
    expect(satisfiesBinding(binding, body({ tenantId: 't1', 'tenant\u0131d': 't3' }), identity())).toBe(false);
  });

  it('rejects a query named like the first member', () => {
    for (const name of ['source', 'Source[account]', 'source.account', '\u017Fource', 'transfer[source][account]', 'transfer[Source]']) {
      expect(satisfiesBinding(ACCOUNT_BINDING, { params: {}, query: { [name]: 't3' }, body: { source: { account: 't1' } } }, identity()), name).toBe(false);
    }
  });

  it('lets a bypass role through', () => {
    expect(satisfiesBinding(ACCOUNT_BINDING, body({ source: { account: 't9' } }), identity({ roles: ['admin'] }))).toBe(true);
  });

  it('names the body in the problem', () => {
    expect(() => enforceBindings([ACCOUNT_BINDING], body({ source: { account: 't3' } }), identity())).toThrow('No resource matches the request body.');
  });
});

describe('object binding body names', () => {
  it.each([['userId'], ['USERID'], ['userId[]'], ['userId.x']])('rejects a path binding with body member %s', (name) => {
    expect(satisfiesBinding(USER_BINDING, { params: { userId: 'alice' }, query: {}, bodyNames: [name] }, identity())).toBe(false);
  });

  it.each([['tenantId'], ['TenantId'], ['tenantId[0]']])('rejects a query binding with body member %s', (name) => {
    expect(satisfiesBinding(TENANT_BINDING, { params: {}, query: { tenantId: 't1' }, bodyNames: [name] }, identity())).toBe(false);
  });

  it('accepts unrelated body members', () => {
    expect(satisfiesBinding(USER_BINDING, { params: { userId: 'alice' }, query: {}, bodyNames: ['displayName', 'user', 'userIds'] }, identity())).toBe(true);
  });

  it('lets a bypass role send the name', () => {
    expect(satisfiesBinding(USER_BINDING, { params: { userId: 'bob' }, query: {}, bodyNames: ['userId'] }, identity({ roles: ['admin'] }))).toBe(true);
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
