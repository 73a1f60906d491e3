import { describe, expect, it } from 'vitest';

import { classifyAddress, classifyHostName, isValidHostName, normalizeHostName } from '../../src/core/outbound/address-classifier.js';
import { resolvePolicy } from '../../src/core/outbound/policy.js';
import { checkUrl } from '../../src/core/outbound/target.js';
import { OutboundError } from '../../src/core/outbound/errors.js';

// Each row: input text, expected rule. Every row must classify as internal.
const INTERNAL_ADDRESSES: readonly (readonly [string, string])[] = [
  // Loopback in every IPv4 notation.
  ['127.0.0.1', 'loopback'],
  ['127.255.255.254', 'loopback'],
  ['127.1', 'loopback'],
  ['127.0.1', 'loopback'],
  ['2130706433', 'loopback'],
  ['0177.0.0.1', 'loopback'],
  ['0177.1', 'loopback'],
  ['017700000001', 'loopback'],
  ['0x7f.1', 'loopback'],
  ['0x7f000001', 'loopback'],
  ['0X7F.0X0.0X0.0X1', 'loopback'],
  ['127.000.000.001', 'loopback'],
  ['127.0.0.1.', 'loopback'],
  ['127.0.0.1..', 'loopback'],

  // RFC 1918.
  ['10.0.0.1', 'private'],
  ['10.255.255.255', 'private'],
  ['167772161', 'private'],
  ['172.16.0.1', 'private'],
  ['172.31.255.255', 'private'],
  ['192.168.1.1', 'private'],
  ['0xc0.0xa8.1.1', 'private'],

  ['169.254.1.1', 'linkLocal'],
  ['100.64.0.1', 'carrierGradeNat'],
  ['100.127.255.255', 'carrierGradeNat'],
  ['224.0.0.1', 'multicast'],
  ['239.255.255.250', 'multicast'],
  ['240.0.0.1', 'reserved'],
  ['0.0.0.0', 'unspecified'],
  ['0', 'unspecified'],
  ['0.1.2.3', 'unspecified'],
  ['255.255.255.255', 'broadcast'],
  ['4294967295', 'broadcast'],
  ['192.0.0.8', 'reserved'],

  // Documentation (RFC 5737) and benchmarking (RFC 2544).
  ['192.0.2.1', 'reserved'],
  ['198.51.100.1', 'reserved'],
  ['203.0.113.1', 'reserved'],
  ['198.18.0.1', 'reserved'],
  ['198.19.255.255', 'reserved'],

  // Cloud metadata.
  ['169.254.169.254', 'cloudMetadata'],
  ['2852039166', 'cloudMetadata'],
  ['0xa9.0xfe.0xa9.0xfe', 'cloudMetadata'],
  ['169.254.170.2', 'cloudMetadata'],
  ['100.100.100.200', 'cloudMetadata'],
  ['168.63.129.16', 'cloudMetadata'],
  ['fd00:ec2::254', 'cloudMetadata'],
  ['[FD00:EC2:0:0:0:0:0:254]', 'cloudMetadata'],
  ['fd20:ce::254', 'cloudMetadata'],
  ['fe80::a9fe:a9fe', 'cloudMetadata'],
  ['fe80::a9fe:a9fe%eth0', 'cloudMetadata'],

  // IPv6 loopback and unspecified.
  ['::1', 'loopback'],
  ['[::1]', 'loopback'],
  ['0:0:0:0:0:0:0:1', 'loopback'],
  ['0000:0000:0000:0000:0000:0000:0000:0001', 'loopback'],
  ['::', 'unspecified'],
  ['[::]', 'unspecified'],

  // Link-local with and without zone id.
  ['fe80::1', 'linkLocal'],
  ['fe80::1%eth0', 'linkLocal'],
  ['[fe80::1%25eth0]', 'linkLocal'],
  ['fe80::1%en0.1', 'linkLocal'],
  ['febf:ffff::1', 'linkLocal'],

  ['fc00::1', 'uniqueLocal'],
  ['fd12:3456:789a::1', 'uniqueLocal'],
  ['ff02::1', 'multicast'],
  ['ff05::1:3', 'multicast'],
  ['fec0::1', 'deprecatedSiteLocal'],
  ['100::1', 'discard'],
  ['2001:db8::1', 'reserved'],
  ['3fff::1', 'reserved'],
  ['2001:2::1', 'benchmarking'],
  ['1::1', 'notGlobalUnicast'],
  ['4000::1', 'notGlobalUnicast'],

  // IPv4 inside IPv6: mapped and compatible forms are internal whatever they embed.
  ['::ffff:127.0.0.1', 'ipv4Mapped'],
  ['::ffff:7f00:1', 'ipv4Mapped'],
  ['[::ffff:7f00:1]', 'ipv4Mapped'],
  ['0:0:0:0:0:ffff:7f00:1', 'ipv4Mapped'],
  ['::ffff:169.254.169.254', 'ipv4Mapped'],
  ['::ffff:93.184.215.14', 'ipv4Mapped'],
  ['::7f00:1', 'ipv4Compatible'],
  ['::a00:1', 'ipv4Compatible'],
  ['::ffff:0:7f00:1', 'rfc6145'],

  // NAT64, 6to4 and Teredo are internal when any embedded IPv4 address is.
  ['64:ff9b::7f00:1', 'rfc6052 embedding 127.0.0.1 (loopback)'],
  ['64:ff9b::127.0.0.1', 'rfc6052 embedding 127.0.0.1 (loopback)'],
  ['64:ff9b::10.0.0.1', 'rfc6052 embedding 10.0.0.1 (private)'],
  ['64:ff9b::a9fe:a9fe', 'rfc6052 embedding 169.254.169.254 (cloudMetadata)'],
  ['64:ff9b:1::a00:1', 'nat64LocalUse'],
  ['64:ff9b:1:ffff::5db8:d70e', 'nat64LocalUse'],
  ['2002:7f00:1::', '6to4 embedding 127.0.0.1 (loopback)'],
  ['2002:c0a8:101::1', '6to4 embedding 192.168.1.1 (private)'],
  ['2002:a9fe:a9fe::1', '6to4 embedding 169.254.169.254 (cloudMetadata)'],
  // Teredo server 10.0.0.1, client 93.184.215.14 (stored inverted).
  ['2001:0:a00:1::a247:28f1', 'teredo embedding 10.0.0.1 (private)'],
  // Teredo server 93.184.215.14, client 127.0.0.1 (stored inverted).
  ['2001:0:5db8:d70e::80ff:fffe', 'teredo embedding 127.0.0.1 (loopback)'],
];

const PUBLIC_ADDRESSES: readonly string[] = [
  '93.184.215.14',
  '8.8.8.8',
  '1.1.1.1',
  '151.101.1.69',
  '11.0.0.1',
  '100.63.255.255',
  '100.128.0.0',
  '169.253.255.255',
  '169.255.0.0',
  '172.15.255.255',
  '172.32.0.0',
  '192.167.255.255',
  '192.169.0.0',
  '198.17.255.255',
  '198.20.0.0',
  '223.255.255.255',
  '2606:4700:4700::1111',
  '2a00:1450:4001:80b::200e',
  '[2a00:1450:4001:80b::200e]',
  // NAT64, 6to4 and Teredo forms of the public 93.184.215.14.
  '64:ff9b::5db8:d70e',
  '64:ff9b::93.184.215.14',
  '2002:5db8:d70e::1',
  '2001:0:5db8:d70e::a247:28f1',
];

describe('classifyAddress', () => {
  it.each(INTERNAL_ADDRESSES)('blocks %s as %s', (input, rule) => {
    const classification = classifyAddress(input);

    expect(classification).toBeDefined();
    expect(classification?.internal).toBe(true);
    expect(classification?.rule).toBe(rule);
  });

  it.each(PUBLIC_ADDRESSES)('passes public %s', (input) => {
    const classification = classifyAddress(input);

    expect(classification).toBeDefined();
    expect(classification?.internal).toBe(false);
    expect(classification?.rule).toBe('public');
  });

  it.each(['169.254.169.254', '169.254.170.2', 'fd00:ec2::254', '64:ff9b::a9fe:a9fe'])('marks %s as metadata', (input) => {
    expect(classifyAddress(input)?.metadata).toBe(true);
  });

  // Linux sends traffic for an IPv4-mapped address over IPv4, so it reaches
  // the metadata service like the dotted form. Translators may route the
  // other embedded forms the same way.
  it.each(['::ffff:169.254.169.254', '::ffff:a9fe:a9fe', '[::ffff:169.254.170.2]', '::ffff:0:a9fe:a9fe', '::a9fe:a9fe', '::ffff:168.63.129.16'])(
    'marks embedded metadata %s as metadata',
    (input) => {
      const classification = classifyAddress(input);

      expect(classification?.internal).toBe(true);
      expect(classification?.metadata).toBe(true);
    },
  );

  // An operator's NAT64 may use any RFC 6052 prefix length within
  // 64:ff9b:1::/48, and each length puts the IPv4 address at other bytes.
  it.each([
    ['/48', '64:ff9b:1:a9fe:a9:fe00::'],
    ['/56', '64:ff9b:1:a9:fe:a9fe::'],
    ['/64', '64:ff9b:1:0:a9:fea9:fe00:0'],
    ['/96', '64:ff9b:1::a9fe:a9fe'],
  ])('marks local-use NAT64 %s metadata', (_prefixLength, input) => {
    const classification = classifyAddress(input);

    expect(classification?.rule).toBe('nat64LocalUse');
    expect(classification?.metadata).toBe(true);
  });

  it.each(['::ffff:127.0.0.1', '::ffff:93.184.215.14', '::7f00:1', '64:ff9b:1::a00:1'])('keeps %s internal but not metadata', (input) => {
    const classification = classifyAddress(input);

    expect(classification?.internal).toBe(true);
    expect(classification?.metadata).toBe(false);
  });

  it.each(['example.com', 'localhost', '08.0.0.1', '1.2.3.4.5', '4294967296', '::g', ''])('returns undefined for non-address %s', (input) => {
    expect(classifyAddress(input)).toBeUndefined();
  });

  it('returns canonical address text', () => {
    expect(classifyAddress('0x7f.1')?.address).toBe('127.0.0.1');
    expect(classifyAddress('[FE80::1%25eth0]')?.address).toBe('fe80::1');
    expect(classifyAddress('0:0:0:0:0:ffff:7f00:1')?.address).toBe('::ffff:7f00:1');
    expect(classifyAddress('::1')?.family).toBe(6);
    expect(classifyAddress('127.1')?.family).toBe(4);
  });
});

const INTERNAL_NAMES: readonly (readonly [string, string])[] = [
  ['localhost', 'localhostName'],
  ['LOCALHOST', 'localhostName'],
  ['localhost.', 'localhostName'],
  ['localhost..', 'localhostName'],
  ['api.localhost', 'localhostName'],
  ['a.b.localhost.', 'localhostName'],
  ['metadata.google.internal', 'internalName'],
  ['metadata.google.internal.', 'internalName'],
  ['service.internal', 'internalName'],
  ['printer.local', 'multicastDnsName'],
  ['router.home.arpa', 'homeNetworkName'],
  ['host.localdomain', 'localdomainName'],
  ['metadata', 'singleLabelName'],
  ['intranet', 'singleLabelName'],
  ['intranet.', 'singleLabelName'],
];

describe('classifyHostName', () => {
  it.each(INTERNAL_NAMES)('blocks %s as %s', (input, rule) => {
    const classification = classifyHostName(input);

    expect(classification.internal).toBe(true);
    expect(classification.rule).toBe(rule);
  });

  it.each(['example.com', 'api.example.com.', 'localhost.example.com', 'internal.example.com', 'local.example.org'])('passes public %s', (input) => {
    expect(classifyHostName(input).internal).toBe(false);
  });

  it('normalizes names and addresses', () => {
    expect(normalizeHostName('API.Example.COM.')).toBe('api.example.com');
    expect(normalizeHostName('[::FFFF:127.0.0.1]')).toBe('::ffff:7f00:1');
    expect(normalizeHostName('0x7f.1')).toBe('127.0.0.1');
  });
});

// WHATWG URL parsing runs before the classifier. These rows check that the
// two together reject every notation, with no DNS involved.
const INTERNAL_URLS: readonly (readonly [string, string])[] = [
  ['http://2130706433/', 'OUTBOUND_BLOCKED_ADDRESS'],
  ['http://0177.0.0.1/', 'OUTBOUND_BLOCKED_ADDRESS'],
  ['http://0x7f.1/', 'OUTBOUND_BLOCKED_ADDRESS'],
  ['http://0x7f000001/', 'OUTBOUND_BLOCKED_ADDRESS'],
  ['http://127.1/', 'OUTBOUND_BLOCKED_ADDRESS'],
  ['http://127.0.0.1./', 'OUTBOUND_BLOCKED_ADDRESS'],
  ['http://%31%32%37.0.0.1/', 'OUTBOUND_BLOCKED_ADDRESS'],
  ['http://\uFF11\uFF12\uFF17.0.0.1/', 'OUTBOUND_BLOCKED_ADDRESS'],
  ['http://0/', 'OUTBOUND_BLOCKED_ADDRESS'],
  ['http://0.0.0.0/', 'OUTBOUND_BLOCKED_ADDRESS'],
  ['http://169.254.169.254/latest/meta-data/', 'OUTBOUND_BLOCKED_ADDRESS'],
  ['http://[::1]/', 'OUTBOUND_BLOCKED_ADDRESS'],
  ['http://[::]/', 'OUTBOUND_BLOCKED_ADDRESS'],
  ['http://[::ffff:127.0.0.1]/', 'OUTBOUND_BLOCKED_ADDRESS'],
  ['http://[0:0:0:0:0:ffff:7f00:1]/', 'OUTBOUND_BLOCKED_ADDRESS'],
  ['http://[64:ff9b::127.0.0.1]/', 'OUTBOUND_BLOCKED_ADDRESS'],
  ['http://[fd00:ec2::254]/', 'OUTBOUND_BLOCKED_ADDRESS'],
  ['http://[fe80::1%25eth0]/', 'OUTBOUND_INVALID_URL'],
  ['http://localhost/', 'OUTBOUND_BLOCKED_HOST'],
  ['http://LocalHost./', 'OUTBOUND_BLOCKED_HOST'],
  ['http://api.localhost/', 'OUTBOUND_BLOCKED_HOST'],
  ['http://metadata.google.internal/computeMetadata/v1/', 'OUTBOUND_BLOCKED_HOST'],
  ['http://metadata/', 'OUTBOUND_BLOCKED_HOST'],
];

describe('checkUrl', () => {
  const policy = resolvePolicy({ allowHttp: true });

  it.each(INTERNAL_URLS)('rejects %s with %s', (url, code) => {
    let caught: unknown;
    try {
      checkUrl(url, policy);
    } catch (error) {
      caught = error;
    }

    expect(caught).toBeInstanceOf(OutboundError);
    expect((caught as OutboundError).code).toBe(code);
  });

  it('passes a public name without resolving it', () => {
    const checked = checkUrl('https://api.example.com./jwks', resolvePolicy({}));

    expect(checked.host).toBe('api.example.com');
    expect(checked.port).toBe(443);
    expect(checked.literalAddress).toBeUndefined();
  });
});

describe('isValidHostName', () => {
  it.each(['example.com', 'a.b', 'xn--bcher-kva.example', 'my_service.internal.example', '1.example', `${'a'.repeat(63)}.example`])('accepts %s', (name) => {
    expect(isValidHostName(name)).toBe(true);
  });

  it.each(['', 'a..b', '.a', '-a.example', 'a-.example', 'a$b.example', 'a b.example', `${'a'.repeat(64)}.example`, `${'abcdefghi.'.repeat(25)}example`])(
    'rejects %j',
    (name) => {
      expect(isValidHostName(name)).toBe(false);
    },
  );
});
