// oidc-provider 9 publishes no types for its internal modules. This one
// exports the AsyncLocalStorage that contains the OAuth request in flight.
declare module 'oidc-provider/lib/helpers/als.js' {
  import type { AsyncLocalStorage } from 'node:async_hooks';

  const storage: AsyncLocalStorage<unknown>;
  export default storage;
}

// Resolves the resource indicator of an access token request from its
// `resource` parameter and the resources granted to `model`, as
// oidc-provider 9's grant handlers do. It raises InvalidTarget for a
// resource that was not granted. Portcullis passes refresh tokens only.
declare module 'oidc-provider/lib/helpers/resolve_resource.js' {
  import type { KoaContextWithOIDC, RefreshToken } from 'oidc-provider';

  export default function resolveResource(
    ctx: KoaContextWithOIDC,
    model: RefreshToken,
    config: { userinfo: { enabled: boolean }; resourceIndicators: unknown },
    scopes?: Set<string>,
  ): Promise<string | undefined>;
}
