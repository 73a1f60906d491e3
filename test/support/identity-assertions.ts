import { IdentityAssertionSigner } from '../../src/core/identity-assertion.js';
import { deriveKey } from '../../src/core/secret-box.js';
import { loadServerSecret } from '../../src/store/server-secret.js';
import type { TestServer } from './server.js';

/** Returns a signer with the test server's own identity assertion key, for calls that bypass its gateway. */
export function gatewaySigner(server: TestServer): IdentityAssertionSigner {
  return new IdentityAssertionSigner({
    seed: deriveKey(loadServerSecret(server.dataDir), 'identity assertion key'),
    issuer: server.issuer,
    audience: `${server.issuer}/api`,
  });
}
