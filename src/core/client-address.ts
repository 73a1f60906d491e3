import ipaddr from 'ipaddr.js';

/**
 * Returns the rate-limit identity of a client address: an IPv4 address as
 * is, an IPv6 address reduced to its network of `ipv6PrefixLength` bits.
 * One allocation (typically a /64) then shares a counter, so rotating
 * addresses inside it does not escape a limit. IPv4-mapped IPv6 addresses
 * count as their IPv4 address.
 */
export function clientAddressKey(address: string, ipv6PrefixLength: number): string {
  if (!ipaddr.isValid(address)) {
    return `unknown:${address}`;
  }

  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  }

  if (parsed.kind() === 'ipv4') {
    return parsed.toString();
  }

  const bytes = parsed.toByteArray();
  for (let bit = ipv6PrefixLength; bit < 128; bit += 1) {
    const index = Math.floor(bit / 8);
    bytes[index] = (bytes[index] ?? 0) & ~(0x80 >> (bit % 8));
  }
  return `${ipaddr.fromByteArray(bytes).toString()}/${ipv6PrefixLength}`;
}
