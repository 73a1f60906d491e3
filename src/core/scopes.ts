/** Scopes of the API audience. `admin` is granted only to accounts with the admin role. */
export const API_SCOPES = ['orders:read', 'orders:write', 'admin'] as const;

/** OpenID Connect scopes. */
export const OIDC_SCOPES = ['openid', 'profile', 'email', 'offline_access'] as const;

/** Scopes that need a role, by scope. */
const SCOPE_ROLES: Readonly<Record<string, string>> = { admin: 'admin' };

/** Splits `scopes` into those that an account with `roles` may be granted and those withheld for lack of a role. */
export function partitionByRole(scopes: readonly string[], roles: readonly string[]): { allowed: string[]; withheld: string[] } {
  const allowed: string[] = [];
  const withheld: string[] = [];

  for (const scope of scopes) {
    const role = SCOPE_ROLES[scope];
    if (role === undefined || roles.includes(role)) {
      allowed.push(scope);
    } else {
      withheld.push(scope);
    }
  }

  return { allowed, withheld };
}

/** Returns the API scopes in a space-separated `scope` parameter. */
export function requestedApiScopes(scope: unknown): string[] {
  return String(scope ?? '')
    .split(' ')
    .filter((name) => (API_SCOPES as readonly string[]).includes(name));
}
