import ipaddr from 'ipaddr.js';

import { addressOrCidrNotationProblem } from './ip-notation.js';

/**
 * Smallest prefix lengths of a trusted proxy range, which are those of the
 * largest private blocks, 10.0.0.0/8 and the unique local fc00::/7. A wider
 * range, such as 0.0.0.0/0, makes nearly every peer a trusted proxy. The
 * left-most X-Forwarded-For address, which any client can write, then
 * becomes the client address that the rate limits count.
 */
const MIN_IPV4_PREFIX_LENGTH = 8;
const MIN_IPV6_PREFIX_LENGTH = 7;

/** Bits of an IPv4-mapped IPv6 address (`::ffff:0:0/96`) before its IPv4 part. */
const IPV4_MAPPED_PREFIX_LENGTH = 96;

/**
 * Returns the IPv4 prefix length of a range of IPv4-mapped IPv6 addresses,
 * or undefined for any other IPv6 range. @fastify/proxy-addr 5 checks an
 * IPv4 peer against such a range, so `::ffff:0:0/96` trusts every IPv4 peer.
 */
function mappedIPv4PrefixLength(address: ipaddr.IPv6, prefixLength: number): number | undefined {
  if (prefixLength < IPV4_MAPPED_PREFIX_LENGTH || !address.isIPv4MappedAddress()) {
    return undefined;
  }
  return prefixLength - IPV4_MAPPED_PREFIX_LENGTH;
}

function isTooBroad(range: string): boolean {
  const [address, prefixLength] = ipaddr.parseCIDR(range);
  if (address.kind() === 'ipv4') {
    return prefixLength < MIN_IPV4_PREFIX_LENGTH;
  }
  const mapped = mappedIPv4PrefixLength(address as ipaddr.IPv6, prefixLength);
  return prefixLength < MIN_IPV6_PREFIX_LENGTH || (mapped !== undefined && mapped < MIN_IPV4_PREFIX_LENGTH);
}

/**
 * Explains why `entry` cannot be a trusted proxy, or returns undefined when
 * it can. An entry is an address or CIDR range in standard notation, and a
 * range is no wider than {@link MIN_IPV4_PREFIX_LENGTH} and
 * {@link MIN_IPV6_PREFIX_LENGTH} allow.
 */
export function trustedProxyProblem(entry: string): string | undefined {
  const notation = addressOrCidrNotationProblem(entry);
  if (notation !== undefined || !entry.includes('/') || !isTooBroad(entry)) {
    return notation;
  }
  return (
    `'${entry}' is too broad for a trusted proxy: nearly every client would be trusted to name its own address in X-Forwarded-For. ` +
    `List the proxies' addresses, or ranges with a prefix length of at least ${MIN_IPV4_PREFIX_LENGTH} for IPv4 and ${MIN_IPV6_PREFIX_LENGTH} for IPv6`
  );
}

/** Throws a RangeError that names each entry of `entries` that cannot be a trusted proxy, as {@link trustedProxyProblem} explains it. */
export function checkTrustedProxies(entries: readonly string[]): void {
  const problems = entries.flatMap((entry, index) => {
    const problem = trustedProxyProblem(entry);
    return problem === undefined ? [] : [`trustedProxies/${index}: ${problem}`];
  });
  if (problems.length > 0) {
    throw new RangeError(problems.join('; '));
  }
}
