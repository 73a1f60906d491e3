import { errors, type KoaContextWithOIDC } from 'oidc-provider';

/**
 * Length of an S256 code challenge: the 32 bytes of a SHA-256 hash in
 * base64url without padding (RFC 7636 section 4.2).
 */
const S256_CHALLENGE_LENGTH = 43;

/**
 * The base64url encoding of 32 bytes without padding. Its 43rd digit
 * carries the last 4 bits, so the digit's two low bits are zero.
 */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

/**
 * Rejects an authorization request whose `code_challenge` cannot be an S256
 * challenge, such as the 64-character hex digest that some clients send.
 * oidc-provider 9 checks only the 43 to 128 characters of `A-Z a-z 0-9 - . _ ~`
 * that RFC 7636 allows for any method, so such a request went through
 * sign-in and consent and then failed at the code exchange with a bare
 * `invalid_grant`. S256 is the only method that Portcullis accepts.
 */
export function checkCodeChallenge(ctx: KoaContextWithOIDC): void {
  const challenge = ctx.oidc.params?.['code_challenge'];
  if (typeof challenge !== 'string') {
    return;
  }

  if (challenge.length !== S256_CHALLENGE_LENGTH) {
    throw new errors.InvalidRequest(
      `code_challenge must be the SHA-256 hash of the code_verifier in base64url without padding, ${S256_CHALLENGE_LENGTH} characters, not ${challenge.length}`,
    );
  }
  if (!S256_CHALLENGE.test(challenge)) {
    throw new errors.InvalidRequest(
      'code_challenge is not the base64url encoding of a SHA-256 hash; send the SHA-256 hash of the code_verifier in base64url without padding',
    );
  }
}
