/**
 * The canonical spelling of a compact JWS (RFC 7515, section 7.1) is three
 * base64url parts without padding (section 2). The last character of each
 * part has zero in its unused low bits (RFC 4648, section 3.5), and the
 * signature is as long as its algorithm makes it.
 *
 * jose 6.2 on Node.js 20 decodes each part with atob, which accepts `=`
 * padding and ignores the unused bits of the last character. WebCrypto in
 * Node.js 20.20 accepts an RSASSA-PSS signature whose leading zero byte is
 * left out, as the verifier's tests show. So
 * one signed token has dozens of spellings that all verify. A cache keyed
 * by the token's text would keep each as a token of its own, so these
 * checks reject every spelling but the canonical one. They are string
 * checks on lengths and last characters, cheap enough for every request.
 */

const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** The 6-bit value of each base64url character by its character code, and -1 for any other character. */
const SEXTET_VALUES = new Int8Array(128).fill(-1);
for (let index = 0; index < BASE64URL_ALPHABET.length; index += 1) {
  SEXTET_VALUES[BASE64URL_ALPHABET.charCodeAt(index)] = index;
}

/**
 * Signature lengths in bytes of the JWS algorithms whose signatures have
 * one length for every key: ECDSA as R and S of the curve's size (RFC 7518,
 * section 3.4), Ed25519 (RFC 8037), and ML-DSA as FIPS 204 fixes them. An
 * RSA signature is as long as the key's modulus.
 */
const FIXED_SIGNATURE_BYTES: ReadonlyMap<string, number> = new Map([
  ['ES256', 64],
  ['ES384', 96],
  ['ES512', 132],
  ['EdDSA', 64],
  ['Ed25519', 64],
  ['ML-DSA-44', 2420],
  ['ML-DSA-65', 3309],
  ['ML-DSA-87', 4627],
]);

/**
 * The unused bits of the last character, by the part's length modulo 4.
 * Of 4n + 2 characters, the last carries 2 bits of its byte and 4 unused
 * bits, and of 4n + 3 characters 4 bits and 2 unused bits.
 */
const UNUSED_BIT_MASKS = [0, 0, 0x0f, 0x03] as const;

/** Returns the length of the unpadded base64url text of `bytes` bytes. */
function encodedLength(bytes: number): number {
  return Math.ceil((bytes * 4) / 3);
}

/**
 * Returns why the part of `token` from `start` to `end` is not canonical
 * base64url, as the end of a sentence about the part, or undefined. Only
 * its length and last character are read. The other characters are left
 * to the decoder, which rejects any outside the alphabet.
 */
function partFault(token: string, start: number, end: number): string | undefined {
  const length = end - start;
  if (length === 0) {
    return undefined;
  }

  const last = token.charCodeAt(end - 1);
  if (last === 0x3d) {
    return 'ends in "=" padding, which a compact JWS does not use';
  }
  // A length of 4n + 1 characters leaves 6 bits, which make no byte.
  const remainder = length % 4;
  if (remainder === 1) {
    return 'is not valid base64url: its length is one more than a multiple of 4';
  }

  const value = last < 128 ? (SEXTET_VALUES[last] as number) : -1;
  if (value >= 0 && (value & (UNUSED_BIT_MASKS[remainder] as number)) !== 0) {
    return 'is not canonical base64url: the unused bits of its last character are not zero';
  }
  return undefined;
}

/**
 * Checks the spelling of compact JWS text, and the signature length for
 * the accepted algorithms when each of them fixes it.
 */
export class CompactJwsSpelling {
  /** Accepted lengths of the signature part in characters, or undefined when a key decides the length. */
  readonly #signatureLengths: ReadonlySet<number> | undefined;

  /** Creates the check for tokens signed with one of `algorithms`. An empty list leaves the signature length unchecked. */
  constructor(algorithms: readonly string[]) {
    const bytes = algorithms.map((algorithm) => FIXED_SIGNATURE_BYTES.get(algorithm));
    this.#signatureLengths = bytes.length > 0 && bytes.every((length) => length !== undefined)
      ? new Set(bytes.map((length) => encodedLength(length as number)))
      : undefined;
  }

  /**
   * Returns why `token` is not a compact JWS in its canonical spelling, in
   * words safe to show to the client, or undefined when it is. `subject`
   * names the token, for example `the access token`. A signature whose
   * length depends on the key is checked by `signatureLengthReason` after
   * verification.
   */
  reason(token: string, subject: string): string | undefined {
    const firstDot = token.indexOf('.');
    const secondDot = firstDot === -1 ? -1 : token.indexOf('.', firstDot + 1);
    if (secondDot === -1 || token.indexOf('.', secondDot + 1) !== -1) {
      return `${subject} is not a compact JWS of three parts separated by dots`;
    }

    const headerFault = partFault(token, 0, firstDot);
    if (headerFault !== undefined) {
      return `${subject}'s header ${headerFault}`;
    }
    const payloadFault = partFault(token, firstDot + 1, secondDot);
    if (payloadFault !== undefined) {
      return `${subject}'s payload ${payloadFault}`;
    }
    const signatureFault = partFault(token, secondDot + 1, token.length);
    if (signatureFault !== undefined) {
      return `${subject}'s signature ${signatureFault}`;
    }

    if (this.#signatureLengths !== undefined && !this.#signatureLengths.has(token.length - secondDot - 1)) {
      return `${subject}'s signature has the wrong length for the accepted algorithms`;
    }
    return undefined;
  }
}

/** Returns the modulus length in bits of an RSA key, a CryptoKey or a KeyObject, or undefined. */
function modulusBits(key: unknown): number | undefined {
  const algorithm = (key as { algorithm?: { modulusLength?: unknown } } | null)?.algorithm;
  if (typeof algorithm?.modulusLength === 'number') {
    return algorithm.modulusLength;
  }
  const details = (key as { asymmetricKeyDetails?: { modulusLength?: unknown } } | null)?.asymmetricKeyDetails;
  return typeof details?.modulusLength === 'number' ? details.modulusLength : undefined;
}

/**
 * Returns why the signature of a verified `token` has the wrong length for
 * its algorithm `alg` and the verifying `key`, or undefined when its length
 * is right. `subject` names the token. An RSASSA-PSS signature one byte short of the modulus verifies
 * in WebCrypto, so the length is checked here rather than left to it. An
 * algorithm whose length is unknown here fails the check.
 */
export function signatureLengthReason(token: string, alg: string, key: unknown, subject: string): string | undefined {
  const fixed = FIXED_SIGNATURE_BYTES.get(alg);
  const rsaBits = fixed === undefined && /^(?:RS|PS)\d{3}$/.test(alg) ? modulusBits(key) : undefined;
  const bytes = fixed ?? (rsaBits === undefined ? undefined : Math.ceil(rsaBits / 8));
  const signatureLength = token.length - token.lastIndexOf('.') - 1;
  if (bytes === undefined || signatureLength !== encodedLength(bytes)) {
    return `${subject}'s signature has the wrong length for the ${alg} algorithm`;
  }
  return undefined;
}
