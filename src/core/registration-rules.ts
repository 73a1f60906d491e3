/**
 * Rules for usernames, email addresses and passwords of new accounts.
 *
 * Usernames and email addresses are restricted to ASCII. That rules out
 * look-alike registrations (fullwidth or Cyrillic letters that resemble an
 * existing name) and Unicode case-mapping collisions such as the dotless ı.
 * Their case-insensitive key (identifierKey) lower-cases ASCII letters only,
 * so that input which breaks these rules cannot map onto a stored name.
 */

import { codePointCount } from './control-characters.js';

export interface RegistrationInput {
  username: string;
  email: string;
  password: string;
}

/** One rejected field and the rule it broke. */
export interface RuleViolation {
  field: 'username' | 'email' | 'password';
  message: string;
}

export const USERNAME_PATTERN = /^[A-Za-z0-9_]{3,30}$/;

/**
 * Returns the case-insensitive key of a username or email address. Unicode
 * case mapping would turn some non-ASCII letters into ASCII ones, such as
 * the Kelvin sign (U+212A) into "k", so a look-alike typed at sign-in would
 * find a stored account.
 */
export function identifierKey(value: string): string {
  return value.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
}
export const EMAIL_MAX_LENGTH = 255;
export const PASSWORD_MIN_LENGTH = 12;
/** Upper bound that keeps hashing cost bounded; long passphrases still fit. */
export const PASSWORD_MAX_LENGTH = 256;
/**
 * The `maxlength` of password fields on the pages. Browsers count UTF-16 code
 * units of the password as typed, which some keyboards send decomposed
 * (NFD), while the rules count code points of its NFC form. With the
 * Unicode 17 data of Node.js 20, one NFC code point decomposes into at most
 * six UTF-16 code units, such as U+16126 into three astral code points.
 */
export const PASSWORD_MAX_UTF16_LENGTH = PASSWORD_MAX_LENGTH * 6;

// Local part: RFC 5322 dot-atom characters; domain: LDH labels with a
// dot-separated top-level label of letters. Quoted local parts and address
// literals are valid in RFC 5322 but refused here, as most mail providers do.
const EMAIL_PATTERN =
  /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/;

export function checkUsername(username: string): RuleViolation[] {
  if (!USERNAME_PATTERN.test(username)) {
    return [{ field: 'username', message: 'Username must be 3 to 30 characters of letters, digits and underscore.' }];
  }
  return [];
}

export function checkEmail(email: string): RuleViolation[] {
  if (email.length > EMAIL_MAX_LENGTH) {
    return [{ field: 'email', message: `Email must be at most ${EMAIL_MAX_LENGTH} characters.` }];
  }

  const localPart = email.split('@')[0] ?? '';
  if (!EMAIL_PATTERN.test(email) || localPart.length > 64) {
    return [{ field: 'email', message: 'Email must be a valid address such as name@example.com.' }];
  }

  return [];
}

/**
 * Returns the form of a password that is checked and hashed: Unicode NFC. An
 * accented letter can arrive composed (U+00E9) or decomposed (e + U+0301),
 * depending on the keyboard, operating system or clipboard, and both must
 * match.
 */
export function normalizePassword(password: string): string {
  return password.normalize('NFC');
}

/**
 * Checks a password against the rules. Its length is counted in Unicode code
 * points of its NFC form, which is what gets hashed, because a UTF-16 length
 * counts a character outside the Basic Multilingual Plane, such as an emoji,
 * twice.
 */
export function checkPassword(password: string, username: string, email: string): RuleViolation[] {
  const violations: RuleViolation[] = [];
  const add = (message: string) => violations.push({ field: 'password', message });

  const length = codePointCount(normalizePassword(password));
  if (length < PASSWORD_MIN_LENGTH) {
    add(`Password must be at least ${PASSWORD_MIN_LENGTH} characters.`);
  }
  if (length > PASSWORD_MAX_LENGTH) {
    add(`Password must be at most ${PASSWORD_MAX_LENGTH} characters.`);
  }
  if (!/[A-Z]/.test(password)) {
    add('Password must contain an upper-case letter.');
  }
  if (!/[a-z]/.test(password)) {
    add('Password must contain a lower-case letter.');
  }
  if (!/[0-9]/.test(password)) {
    add('Password must contain a digit.');
  }

  const lowered = password.toLowerCase();
  if (username !== '' && lowered === username.toLowerCase()) {
    add('Password must not be the username.');
  }
  if (email !== '' && lowered === email.toLowerCase()) {
    add('Password must not be the email address.');
  }

  return violations;
}

/** Checks every field of a registration; returns all violations, in field order. */
export function checkRegistration(input: RegistrationInput): RuleViolation[] {
  return [
    ...checkUsername(input.username),
    ...checkEmail(input.email),
    ...checkPassword(input.password, input.username, input.email),
  ];
}
