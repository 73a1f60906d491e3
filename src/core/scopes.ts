/** Scopes of the API audience. `admin` is granted only to accounts with the admin role. */
export const API_SCOPES = ['orders:read', 'orders:write', 'admin'] as const;

/** OpenID Connect scopes. */
export const OIDC_SCOPES = ['openid', 'profile', 'email', 'offline_access'] as const;
