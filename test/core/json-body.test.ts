import { describe, expect, it } from 'vitest';

import { charsetsOf, hasInexactNumber, withIntegerNumbersOnly } from '../../src/core/openapi/json-body.js';

describe('withIntegerNumbersOnly', () => {
  it('replaces fractions and exponents', () => {
    expect(withIntegerNumbersOnly('{"b":-1.5e3,"c":[0,10,2E2,4.0],"d":-7}')).toBe('{"b":null,"c":[0,10,null,null],"d":-7}');
  });

  it('leaves strings and literals alone', () => {
    const text = '{"a":"1.5\\"2.5","e1.5":true,"f":false,"n":null}';
    expect(withIntegerNumbersOnly(text)).toBe(text);
  });

  it('reads a bare number', () => {
    expect(withIntegerNumbersOnly(' 0.5 ')).toBe(' null ');
    expect(JSON.parse(withIntegerNumbersOnly('[1e400, 12345678901234567890]'))).toEqual([null, 12345678901234567890]);
  });
});

describe('charsetsOf', () => {
  it('reads every charset parameter', () => {
    expect(charsetsOf('application/json')).toEqual([]);
    expect(charsetsOf('application/json; Charset="UTF-8"; charset=latin1')).toEqual(['utf-8', 'latin1']);
  });

  it('reads the RFC 2231 form', () => {
    expect(charsetsOf("application/json; charset*=utf-8''utf-7")).toEqual(["utf-8''utf-7"]);
    expect(charsetsOf('application/json; charset* = utf-7')).toEqual(['utf-7']);
  });
});

describe('hasInexactNumber', () => {
  it.each(['{"a":1,"b":-2.5,"c":"12345678901234567891"}', '[9007199254740991,-9007199254740991]', '[1.50E2,-0,0.000,1e21,123456789.123456]', '[5e-324,1.7976931348623157e308]'])(
    'accepts %s',
    (text) => {
      expect(hasInexactNumber(text)).toBe(false);
    },
  );

  it.each(['[9007199254740993]', '[-12345678901234567891]', '[0.1000000000000000055511151231257827]', '[1e400]', '[1e-400]', '{"a":[{"b":123456789.123456789}]}'])(
    'rejects %s',
    (text) => {
      expect(hasInexactNumber(text)).toBe(true);
    },
  );

  it.each(['1e400', '{"a": -1e400}', '[\n\t1.5e-400]', '{"id":"5a6c7d8e9f01","n":1e400}', '{"x":"8e9","n":[0,2E400]}'])('rejects out-of-range number in %s', (text) => {
    expect(hasInexactNumber(text)).toBe(true);
  });

  it.each(['{"id":"0f8b6a52-3c1e-4d7a-9b2e-5a6c7d8e9f01"}', '["1e400","a 1e400"]'])('accepts exponent text in strings %s', (text) => {
    expect(hasInexactNumber(text)).toBe(false);
  });

  it('reads long zero runs linearly', () => {
    const zeros = '0'.repeat(300_000);
    const started = performance.now();
    expect(hasInexactNumber(`[1${zeros}1,1.${zeros}1]`)).toBe(true);
    // A scan quadratic in the length takes seconds on this input.
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
