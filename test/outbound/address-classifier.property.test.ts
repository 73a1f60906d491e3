import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { classifyAddress } from '../../src/core/outbound/address-classifier.js';
import { OutboundError } from '../../src/core/outbound/errors.js';
import { resolvePolicy } from '../../src/core/outbound/policy.js';
import { checkUrl } from '../../src/core/outbound/target.js';
import { fuzzRuns } from '../support/fuzz.js';

const RUNS = fuzzRuns(500);

/** Internal IPv4 ranges as [first octets, prefix length]. */
const INTERNAL_IPV4_RANGES: readonly (readonly [readonly number[], number])[] = [
  [[0, 0, 0, 0], 8],
  [[10, 0, 0, 0], 8],
  [[100, 64, 0, 0], 10],
  [[127, 0, 0, 0], 8],
  [[169, 254, 0, 0], 16],
  [[172, 16, 0, 0], 12],
  [[192, 0, 0, 0], 24],
  [[192, 0, 2, 0], 24],
  [[192, 168, 0, 0], 16],
  [[198, 18, 0, 0], 15],
  [[198, 51, 100, 0], 24],
  [[203, 0, 113, 0], 24],
  [[224, 0, 0, 0], 4],
  [[240, 0, 0, 0], 4],
];

/** Internal IPv6 ranges as [first 16-bit words, prefix length]. */
const INTERNAL_IPV6_RANGES: readonly (readonly [readonly number[], number])[] = [
  [[0, 0, 0, 0, 0, 0, 0, 1], 128],
  [[0, 0, 0, 0, 0, 0, 0, 0], 96],
  [[0, 0, 0, 0, 0, 0xffff, 0, 0], 96],
  [[0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48],
  [[0x100, 0, 0, 0, 0, 0, 0, 0], 64],
  [[0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32],
  [[0xfc00, 0, 0, 0, 0, 0, 0, 0], 7],
  [[0xfe80, 0, 0, 0, 0, 0, 0, 0], 10],
  [[0xfec0, 0, 0, 0, 0, 0, 0, 0], 10],
  [[0xff00, 0, 0, 0, 0, 0, 0, 0], 8],
];

/** Sets every bit after `prefixLength` from `random`, keeping the prefix of `base`. */
function fillHostBits(base: readonly number[], random: readonly number[], prefixLength: number, bitsPerPart: number): number[] {
  return base.map((part, index) => {
    const keep = Math.max(0, Math.min(bitsPerPart, prefixLength - index * bitsPerPart));
    const mask = keep === 0 ? 0 : ((2 ** bitsPerPart - 1) << (bitsPerPart - keep)) & (2 ** bitsPerPart - 1);
    return (part & mask) | ((random[index] ?? 0) & ~mask & (2 ** bitsPerPart - 1));
  });
}

const internalIPv4 = fc
  .tuple(fc.constantFrom(...INTERNAL_IPV4_RANGES), fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }))
  .map(([[base, prefixLength], random]) => fillHostBits(base, random, prefixLength, 8));

const internalIPv6 = fc
  .tuple(fc.constantFrom(...INTERNAL_IPV6_RANGES), fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }))
  .map(([[base, prefixLength], random]) => fillHostBits(base, random, prefixLength, 16));

const hex = (value: number): string => value.toString(16);
const octal = (value: number): string => `0${value.toString(8)}`;
const toInteger = (octets: readonly number[]): number => octets.reduce((total, octet) => total * 256 + octet, 0);

/** Every IPv4 notation that inet_aton and the WHATWG URL parser accept, plus IPv6 embeddings. */
const IPV4_NOTATIONS: readonly ((octets: readonly number[]) => string)[] = [
  (o) => o.join('.'),
  (o) => `${o.join('.')}.`,
  (o) => String(toInteger(o)),
  (o) => `0x${hex(toInteger(o))}`,
  (o) => octal(toInteger(o)),
  (o) => o.map(octal).join('.'),
  (o) => o.map((octet) => `0x${hex(octet)}`).join('.'),
  (o) => `${o[0]}.${o[1]}.${(o[2] ?? 0) * 256 + (o[3] ?? 0)}`,
  (o) => `${o[0]}.${toInteger(o.slice(1))}`,
  (o) => `0x${hex(o[0] ?? 0)}.${octal(o[1] ?? 0)}.${o[2]}.${o[3]}`,
  (o) => `::ffff:${o.join('.')}`,
  (o) => `[::ffff:${hex(toInteger(o.slice(0, 2)))}:${hex(toInteger(o.slice(2)))}]`,
  (o) => `64:ff9b::${o.join('.')}`,
  (o) => `2002:${hex(toInteger(o.slice(0, 2)))}:${hex(toInteger(o.slice(2)))}::1`,
];

const IPV6_NOTATIONS: readonly ((words: readonly number[]) => string)[] = [
  (w) => w.map(hex).join(':'),
  (w) => w.map((word) => hex(word).padStart(4, '0')).join(':'),
  (w) => w.map(hex).join(':').toUpperCase(),
  (w) => `[${w.map(hex).join(':')}]`,
  (w) => `${w.map(hex).join(':')}%eth0`,
  (w) => `[${w.map(hex).join(':')}%25en0]`,
  (w) => compress(w),
  (w) => `[${compress(w)}]`,
];

/** Writes an IPv6 address with its longest run of zero words as `::`. */
function compress(words: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 0;
  for (let start = 0; start < words.length; start += 1) {
    let length = 0;
    while (start + length < words.length && words[start + length] === 0) {
      length += 1;
    }
    if (length > bestLength) {
      bestStart = start;
      bestLength = length;
    }
  }

  if (bestLength < 2) {
    return words.map(hex).join(':');
  }
  const head = words.slice(0, bestStart).map(hex).join(':');
  const tail = words.slice(bestStart + bestLength).map(hex).join(':');
  return `${head}::${tail}`;
}

const internalAddressText = fc.oneof(
  fc.tuple(internalIPv4, fc.constantFrom(...IPV4_NOTATIONS)).map(([octets, write]) => write(octets)),
  fc.tuple(internalIPv6, fc.constantFrom(...IPV6_NOTATIONS)).map(([words, write]) => write(words)),
);

describe('classifier properties', () => {
  it('blocks internal addresses in any notation', () => {
    fc.assert(
      fc.property(internalAddressText, (text) => {
        const classification = classifyAddress(text);

        expect(classification, text).toBeDefined();
        expect(classification?.internal, text).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('blocks internal addresses inside URLs', () => {
    const policy = resolvePolicy({ allowHttp: true });

    fc.assert(
      fc.property(internalAddressText, (text) => {
        const host = text.includes(':') && !text.startsWith('[') ? `[${text.replace('%', '%25')}]` : text;
        let caught: unknown;
        try {
          checkUrl(`http://${host}/`, policy);
        } catch (error) {
          caught = error;
        }

        expect(caught, host).toBeInstanceOf(OutboundError);
        expect(['OUTBOUND_BLOCKED_ADDRESS', 'OUTBOUND_INVALID_URL'], host).toContain((caught as OutboundError).code);
      }),
      { numRuns: RUNS },
    );
  });
});
