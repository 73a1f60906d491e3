import { describe, expect, it } from 'vitest';

import { PASSWORD_MAX_LENGTH, PASSWORD_MAX_UTF16_LENGTH, PASSWORD_MIN_LENGTH, checkPassword } from '../../src/core/registration-rules.js';

/** Password rule messages for `password`, with a username and email that it does not match. */
function passwordMessages(password: string): string[] {
  return checkPassword(password, 'rule_user', 'rule@example.com').map((violation) => violation.message);
}

describe('password length rule', () => {
  const tooShort = `Password must be at least ${PASSWORD_MIN_LENGTH} characters.`;
  const tooLong = `Password must be at most ${PASSWORD_MAX_LENGTH} characters.`;

  it('counts an emoji as one character', () => {
    // 8 code points, 13 UTF-16 code units.
    expect(passwordMessages(`Aa1${'\u{1F600}'.repeat(5)}`)).toEqual([tooShort]);
  });

  it('counts a combining sequence once', () => {
    // 13 code points as typed, 8 after NFC composes each e and U+0301 into U+00E9.
    expect(passwordMessages(`Aa1${'e\u0301'.repeat(5)}`)).toEqual([tooShort]);
  });

  it('accepts twelve emoji-padded code points', () => {
    expect(passwordMessages(`Aa1${'\u{1F600}'.repeat(9)}`)).toEqual([]);
  });

  it('allows the maximum in astral characters', () => {
    const password = `Aa1${'\u{1F600}'.repeat(PASSWORD_MAX_LENGTH - 3)}`;

    expect(password.length).toBeGreaterThan(PASSWORD_MAX_LENGTH);
    expect(passwordMessages(password)).toEqual([]);
  });

  it.each([
    ['Greek with three accents', '\u1F82'],
    ['Gurung Khema', '\u{16126}'],
  ])('fits the decomposed maximum in %s', (_script, character) => {
    const password = `Aa1${character.repeat(PASSWORD_MAX_LENGTH - 3)}`;
    const decomposed = password.normalize('NFD');

    expect(passwordMessages(decomposed)).toEqual([]);
    // The sign-in page must let the password be typed as the keyboard sends it.
    expect(decomposed.length).toBeLessThanOrEqual(PASSWORD_MAX_UTF16_LENGTH);
  });

  it('rejects one code point over the maximum', () => {
    expect(passwordMessages(`Aa1${'\u{1F600}'.repeat(PASSWORD_MAX_LENGTH - 2)}`)).toEqual([tooLong]);
  });
});
