import { errors } from 'jose';

/**
 * Describes why jose rejected a JWT, in words safe to show to the client.
 * `subject` names the JWT, for example `the access token`.
 */
export function describeJwtError(error: unknown, subject: string): string {
  if (error instanceof errors.JWTExpired) {
    return `${subject} expired`;
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
