import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import resolveResource from 'oidc-provider/lib/helpers/resolve_resource.js';

type Features = NonNullable<Configuration['features']>;

/** The features that decide the resource of a refreshed access token. */
export interface RefreshTargetFeatures {
  userinfo: { enabled: boolean };
  resourceIndicators: NonNullable<Features['resourceIndicators']>;
}

/**
 * Builds the `rotateRefreshToken` setting: every refresh rotates the
 * refresh token, once the access token it requests is known to be issuable.
 *
 * oidc-provider 9 calls this setting after it has checked the refresh token,
 * the client and the requested scopes, and before it consumes the token. It
 * resolves the resource and calls `getResourceServerInfo` only after the
 * rotation, so a refresh rejected there with `invalid_target` or
 * `invalid_scope` would consume a token that the client never got a
 * successor for. The client's retry with it would then count as reuse and
 * revoke the grant. This runs the same resolution and the same
 * `getResourceServerInfo` first, so such a refresh fails with the token
 * unchanged.
 *
 * NOTE: oidc-provider 9 offers no such setting before it consumes an
 * authorization code, so a code exchange rejected for its `resource` still
 * uses up the code.
 */
export function rotateAfterTargetCheck(features: RefreshTargetFeatures): (ctx: KoaContextWithOIDC) => Promise<boolean> {
  const { getResourceServerInfo } = features.resourceIndicators;
  if (getResourceServerInfo === undefined) {
    throw new Error('rotateAfterTargetCheck needs features.resourceIndicators.getResourceServerInfo');
  }

  return async (ctx) => {
    const refreshToken = ctx.oidc.entities.RefreshToken;
    if (refreshToken === undefined) {
      throw new Error('oidc-provider asked whether to rotate a refresh token without loading one');
    }

    // The scopes that oidc-provider's refresh handler resolves the resource with.
    const scopes = typeof ctx.oidc.params?.['scope'] === 'string' && ctx.oidc.params['scope'] !== '' ? ctx.oidc.requestParamScopes : refreshToken.scopes;
    const resource = await resolveResource(ctx, refreshToken, features, scopes);
    if (resource !== undefined) {
      await getResourceServerInfo(ctx, resource, ctx.oidc.client as NonNullable<typeof ctx.oidc.client>);
    }
    return true;
  };
}
