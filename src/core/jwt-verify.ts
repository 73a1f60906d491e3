import { errors, jwtVerify, type JWTVerifyGetKey, type JWTVerifyOptions, type JWTVerifyResult, type ResolvedKey } from 'jose';

/**
 * Verifies a JWT with jose against a key set, trying every key that matches
 * its header. jose 6.2 rejects a JWT that names no `kid`, or a `kid` that
 * several keys share, with JWKSMultipleMatchingKeys, which yields those keys
 * so that the caller can try each. The first key whose signature verifies
 * decides, claims included. When none verifies, the signature is invalid,
 * and when none of them can be imported, the key set is at fault. The
 * result names the key that verified the signature.
 */
export async function verifyJwt(token: string, keySet: JWTVerifyGetKey, options: JWTVerifyOptions): Promise<JWTVerifyResult & ResolvedKey> {
  try {
    return await jwtVerify(token, keySet, options);
  } catch (error) {
    if (!(error instanceof errors.JWKSMultipleMatchingKeys)) {
      throw error;
    }
    return verifyWithEachKey(token, error, options);
  }
}

async function verifyWithEachKey(token: string, candidates: errors.JWKSMultipleMatchingKeys, options: JWTVerifyOptions): Promise<JWTVerifyResult & ResolvedKey> {
  // jose skips a candidate it cannot import, so an empty run means that no
  // matching key could be used. JWKSInvalid makes that a fault of the key
  // set, as it is when the only matching key cannot be imported.
  let tried = false;
  for await (const key of candidates) {
    tried = true;
    try {
      return { ...(await jwtVerify(token, key, options)), key };
    } catch (error) {
      if (!(error instanceof errors.JWSSignatureVerificationFailed)) {
        throw error;
      }
    }
  }

  if (!tried) {
    throw new errors.JWKSInvalid('none of the keys that match the JWT header can be imported', { cause: candidates });
  }
  throw new errors.JWSSignatureVerificationFailed();
}
