import { errors } from 'jose';

/**
 * A JWT that could not be checked because its verification key cannot be
 * used, such as a private key or an RSA key under 2048 bits in a public JWK
 * Set. The key set, not the JWT, is at fault.
 */
export class UnusableKeyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnusableKeyError';
  }
}

/**
 * Returns the error of a failed `jwtVerify` as an UnusableKeyError when the
 * key, not the JWT, is at fault, or undefined for any other error. jose
 * raises JWKSInvalid for a key set member that is not a public key and a
 * TypeError for a key it rejects (an RSA modulus under 2048 bits), and
 * WebCrypto raises a DOMException for key material it cannot import.
 * jose's only other TypeErrors reject invalid options, a fault of the
 * service too, and the message keeps jose's words for the log.
 */
export function unusableKeyError(error: unknown): UnusableKeyError | undefined {
  if (error instanceof errors.JWKSInvalid || error instanceof TypeError || error instanceof DOMException) {
    return new UnusableKeyError(`a key in the key set cannot be used (${error.name}: ${error.message})`, { cause: error });
  }
  return undefined;
}

/**
 * Describes why jose rejected a JWT, in words safe to show to the client.
 * `subject` names the JWT, for example `the access token`.
 */
export function describeJwtError(error: unknown, subject: string): string {
  if (error instanceof errors.JWTExpired) {
    return `${subject} expired`;
  }
  // jose reports a wrong `typ` header parameter as a failed "typ" claim.
  if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'typ') {
    return `${subject}'s "typ" header parameter is invalid`;
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    return `${subject}'s "${error.claim}" claim is invalid`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return `${subject} is signed with an algorithm that is not accepted`;
  }
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
    return `${subject} is signed with an unknown key`;
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return `${subject} signature is invalid`;
  }
  return `${subject} is malformed`;
}
