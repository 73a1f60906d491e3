import { errors, jwtVerify, type JWTVerifyGetKey, type JWTVerifyOptions, type JWTVerifyResult } from 'jose';

/**
 * Verifies a JWT with jose against a key set, trying every key that matches
 * its header. jose 6.2 rejects a JWT that names no `kid`, or a `kid` that
 * several keys share, with JWKSMultipleMatchingKeys, which yields those keys
 * so that the caller can try each. The first key whose signature verifies
 * decides, claims included. When none verifies, the signature is invalid.
 */
export async function verifyJwt(token: string, keySet: JWTVerifyGetKey, options: JWTVerifyOptions): Promise<JWTVerifyResult> {
  try {
    return await jwtVerify(token, keySet, options);
  } catch (error) {
    if (!(error instanceof errors.JWKSMultipleMatchingKeys)) {
      throw error;
    }
    return verifyWithEachKey(token, error, options);
  }
}

async function verifyWithEachKey(token: string, candidates: errors.JWKSMultipleMatchingKeys, options: JWTVerifyOptions): Promise<JWTVerifyResult> {
  // jose skips a candidate it cannot import, so an empty run means no key could be used.
  let tried = false;
  for await (const key of candidates) {
    tried = true;
    try {
      return await jwtVerify(token, key, options);
    } catch (error) {
      if (!(error instanceof errors.JWSSignatureVerificationFailed)) {
        throw error;
      }
    }
  }

  throw tried ? new errors.JWSSignatureVerificationFailed() : candidates;
}
