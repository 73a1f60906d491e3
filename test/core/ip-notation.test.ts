import { describe, expect, it } from 'vitest';

import { addressOrCidrNotationProblem, cidrNotationProblem, isDottedQuad, isStandardAddress, isStandardIPv6 } from '../../src/core/ip-notation.js';

/** inet_aton forms that ipaddr.js and other libraries read as different addresses. */
const LEGACY_IPV4 = ['10.1', '127.1', '10.1.2', '0x7f.0.0.1', '0X7F.0.0.1', '017.0.0.1', '10.0.0.010', '2130706433', '0x7f000001', '017700000001'];

describe('isDottedQuad', () => {
  it.each(['0.0.0.0', '10.1.0.0', '127.0.0.1', '192.0.2.255', '255.255.255.255'])('accepts %s', (text) => {
    expect(isDottedQuad(text)).toBe(true);
  });

  it.each([...LEGACY_IPV4, '256.0.0.1', '1.2.3.4.5', ' 10.0.0.1', '10.0.0.1 ', '', '1..2.3'])('rejects %j', (text) => {
    expect(isDottedQuad(text)).toBe(false);
  });
});

describe('isStandardIPv6', () => {
  it.each(['::', '::1', '2001:db8::1', '2001:0DB8:0000::1', '1:2:3:4:5:6:7:8', '::ffff:192.0.2.1', '64:ff9b::10.1.2.3'])('accepts %s', (text) => {
    expect(isStandardIPv6(text)).toBe(true);
  });

  it.each(['::ffff:017.0.0.1', '::ffff:0x7f.0.0.1', '::ffff:127.1', 'fe80::1%eth0', '1::00001', '2001:db8::1::2', '127.0.0.1', 'nonsense'])('rejects %j', (text) => {
    expect(isStandardIPv6(text)).toBe(false);
  });
});

describe('isStandardAddress', () => {
  it('accepts both families', () => {
    expect(isStandardAddress('192.0.2.1')).toBe(true);
    expect(isStandardAddress('2001:db8::1')).toBe(true);
  });

  it.each(LEGACY_IPV4)('rejects legacy %s', (text) => {
    expect(isStandardAddress(text)).toBe(false);
  });
});

describe('cidrNotationProblem', () => {
  it.each(['10.0.0.0/8', '10.1.2.3/8', '0.0.0.0/0', '203.0.113.0/24', '2001:db8::/32', '2001:0db8:0::1/32', '::ffff:203.0.113.0/120', '::/0'])(
    'accepts %s',
    (text) => {
      expect(cidrNotationProblem(text)).toBeUndefined();
    },
  );

  it.each(LEGACY_IPV4.map((address) => `${address}/8`))('names the legacy range %s', (text) => {
    const problem = cidrNotationProblem(text);
    expect(problem).toContain(`'${text}'`);
    expect(problem).toContain('standard notation');
  });

  it.each(['10.0.0.0', '10.0.0.0/33', '10.0.0.0/08', '10.0.0.0/+8', '10.0.0.0/ 8', '2001:db8::/129', 'nonsense', '10.0.0.0/8/8'])(
    'names the invalid range %j',
    (text) => {
      expect(cidrNotationProblem(text)).toContain(`'${text}' is not a CIDR range`);
    },
  );

  it('rejects a zone id', () => {
    expect(cidrNotationProblem('fe80::%eth0/64')).toContain("'fe80::%eth0/64' is not in standard notation");
  });
});

describe('addressOrCidrNotationProblem', () => {
  it('accepts addresses and ranges', () => {
    expect(addressOrCidrNotationProblem('192.0.2.1')).toBeUndefined();
    expect(addressOrCidrNotationProblem('2001:db8::/32')).toBeUndefined();
  });

  it('names legacy notations and invalid values', () => {
    expect(addressOrCidrNotationProblem('127.1')).toContain("'127.1' is not in standard notation");
    expect(addressOrCidrNotationProblem('017.0.0.0/8')).toContain("'017.0.0.0/8' is not in standard notation");
    expect(addressOrCidrNotationProblem('proxy.example')).toBe("'proxy.example' is not an IP address or CIDR range");
  });
});
