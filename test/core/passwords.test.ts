import argon2 from 'argon2';
import { describe, expect, it } from 'vitest';

import { hashPassword, verifyPassword } from '../../src/core/passwords.js';

/** "Crème-Brûlée-2024" with each accented letter as one code point (U+00E8, U+00FB, U+00E9). */
const COMPOSED = 'Cr\u00E8me-Br\u00FBl\u00E9e-2024';
/** The same password with each accented letter as a base letter and a combining mark. */
const DECOMPOSED = 'Cre\u0300me-Bru\u0302le\u0301e-2024';

describe('password hashing', () => {
  it('matches a decomposed spelling', async () => {
    expect(COMPOSED).not.toBe(DECOMPOSED);

    expect(await verifyPassword(await hashPassword(COMPOSED), DECOMPOSED)).toBe(true);
  });

  it('matches a composed spelling', async () => {
    expect(await verifyPassword(await hashPassword(DECOMPOSED), COMPOSED)).toBe(true);
  });

  it('still verifies a decomposed legacy hash', async () => {
    const legacyHash = await argon2.hash(DECOMPOSED, { type: argon2.argon2id });

    expect(await verifyPassword(legacyHash, DECOMPOSED)).toBe(true);
  });

  it('rejects another password', async () => {
    expect(await verifyPassword(await hashPassword(COMPOSED), 'Creme-Brulee-2024')).toBe(false);
  });
});
