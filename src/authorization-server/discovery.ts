import type { KoaContextWithOIDC } from 'oidc-provider';

import { API_SCOPES } from '../core/scopes.js';

/**
 * Adds the API scopes to `scopes_supported` in the metadata document.
 *
 * oidc-provider 9 lists only the OpenID scopes of its `scopes` setting
 * there, and its `discovery` setting only fills in missing members, so it
 * cannot extend the list. The API scopes belong to the API resource server
 * (`getResourceServerInfo`), not to the `scopes` setting.
 */
export async function listApiScopes(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  await next();

  if (ctx.oidc?.route !== 'discovery' || ctx.status !== 200) {
    return;
  }

  const body = ctx.body as { scopes_supported?: unknown } | undefined;
  if (body !== undefined && Array.isArray(body.scopes_supported)) {
    body.scopes_supported = [...new Set([...(body.scopes_supported as string[]), ...API_SCOPES])];
  }
}
