import { describe, expect, it } from 'vitest';

import { codePointLabel, escapeControlCharacters, findControlCharacter } from '../../src/core/control-characters.js';

describe('findControlCharacter', () => {
  it('finds control and format characters', () => {
    const cases: Array<[string, string]> = [
      ['a\u0000b', '\u0000'],
      ['line\nforged', '\n'],
      ['tab\there', '\t'],
      ['\u001b[31mred', '\u001b'],
      ['del\u007f', '\u007f'],
      ['c1\u009b', '\u009b'],
      ['right\u202eto left', '\u202e'],
      ['isolate\u2066', '\u2066'],
      ['zero\u200bwidth', '\u200b'],
      ['joiner\u200d', '\u200d'],
      ['\ufeffbom', '\ufeff'],
      ['tag\u{e0041}', '\u{e0041}'],
      ['line\u2028separator', '\u2028'],
      ['paragraph\u2029separator', '\u2029'],
      ['lone \ud800 surrogate', '\ud800'],
    ];
    for (const [text, expected] of cases) {
      expect(findControlCharacter(text), JSON.stringify(text)).toBe(expected);
    }
  });

  it('accepts printable text', () => {
    for (const text of ['reporting job', 'Grüße – 日本語', 'emoji 🔑', 'quotes "\'` and \\ backslash', 'no\u00a0break space']) {
      expect(findControlCharacter(text), text).toBeUndefined();
    }
  });

  it('labels code points', () => {
    expect(codePointLabel('\u0000')).toBe('U+0000');
    expect(codePointLabel('\u202e')).toBe('U+202E');
    expect(codePointLabel('\u{e0041}')).toBe('U+E0041');
  });
});

describe('escapeControlCharacters', () => {
  it('escapes each control and format character', () => {
    expect(escapeControlCharacters('a\u0000b\n\u001b[31m')).toBe('a\\u0000b\\u000a\\u001b[31m');
    expect(escapeControlCharacters('right\u202eto\u200bleft')).toBe('right\\u202eto\\u200bleft');
    expect(escapeControlCharacters('tag\u{e0041}')).toBe('tag\\udb40\\udc41');
    expect(escapeControlCharacters('lone \ud800')).toBe('lone \\ud800');
  });

  it('leaves printable text alone', () => {
    expect(escapeControlCharacters('Grüße 🔑 "quoted"')).toBe('Grüße 🔑 "quoted"');
  });
});
