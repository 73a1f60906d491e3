import { describe, expect, it } from 'vitest';

import { codePointLabel, findControlCharacter } from '../../src/core/control-characters.js';

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
