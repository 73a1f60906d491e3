// oidc-provider 9 publishes no types for its internal modules. This one
// exports the AsyncLocalStorage that contains the OAuth request in flight.
declare module 'oidc-provider/lib/helpers/als.js' {
  import type { AsyncLocalStorage } from 'node:async_hooks';

  const storage: AsyncLocalStorage<unknown>;
  export default storage;
}
