import { errors, type KoaContextWithOIDC } from 'oidc-provider';

/**
 * Length of an S256 code challenge: the 32 bytes of a SHA-256 hash in
 * base64url without padding (RFC 7636 section 4.2).
 */
const S256_CHALLENGE_LENGTH = 43;

/**
 * Rejects an authorization request whose `code_challenge` cannot be an S256
 * challenge, such as the 64-character hex digest that some clients send.
 * oidc-provider 9 checks only the 43 to 128 characters that RFC 7636 allows
 * for any method, so such a request went through sign-in and consent and
 * then failed at the code exchange with a bare `invalid_grant`. S256 is the
 * only method that Portcullis accepts.
 */
export function checkCodeChallenge(ctx: KoaContextWithOIDC): void {
  const challenge = ctx.oidc.params?.['code_challenge'];
  if (typeof challenge === 'string' && challenge.length !== S256_CHALLENGE_LENGTH) {
    throw new errors.InvalidRequest(
      `code_challenge must be the SHA-256 hash of the code_verifier in base64url without padding, ${S256_CHALLENGE_LENGTH} characters, not ${challenge.length}`,
    );
  }
}
