import ipaddr from 'ipaddr.js';

/**
 * Classification of IP addresses and host names for the outbound client.
 *
 * An address is public only when ipaddr.js files it under `unicast` and no
 * rule of this module applies. Everything else is internal: ipaddr.js names
 * the IANA special-purpose ranges (loopback, private, linkLocal, uniqueLocal,
 * carrierGradeNat, multicast, reserved, unspecified, broadcast, ...), and the
 * tables below add what it files under `unicast` but must not be reachable.
 */

/** Result of classifying one IP address. */
export interface AddressClassification {
  /** Canonical text of the address, without zone id. The client connects to exactly this. */
  readonly address: string;
  readonly family: 4 | 6;
  /** `public`, or the name of the range or rule that makes the address internal. */
  readonly rule: string;
  readonly internal: boolean;
  /** True for cloud instance metadata endpoints, which stay blocked even for hosts allowed to be internal. */
  readonly metadata: boolean;
}

/**
 * Instance metadata endpoints, which hand out credentials to any process on
 * the machine that requests them. Most also sit in an internal range, but 168.63.129.16
 * is in public space, and listing them all lets the error name the reason.
 */
const METADATA_ADDRESSES: ReadonlyMap<string, string> = new Map([
  // AWS, GCP, Azure, OpenStack, Oracle Cloud and DigitalOcean IMDS.
  ['169.254.169.254', 'cloudMetadata'],
  // AWS ECS task metadata and credentials endpoint.
  ['169.254.170.2', 'cloudMetadata'],
  // Alibaba Cloud metadata.
  ['100.100.100.200', 'cloudMetadata'],
  // Azure platform endpoint (WireServer), reachable from every Azure VM.
  ['168.63.129.16', 'cloudMetadata'],
  // AWS IMDS over IPv6.
  ['fd00:ec2::254', 'cloudMetadata'],
  // Google Compute Engine metadata over IPv6.
  ['fd20:ce::254', 'cloudMetadata'],
  // OpenStack Neutron metadata over IPv6, a link-local address.
  ['fe80::a9fe:a9fe', 'cloudMetadata'],
]);

/** Global unicast space (RFC 4291). ipaddr.js files all other unlisted IPv6 addresses as `unicast` too. */
const IPV6_GLOBAL_UNICAST = ipaddr.parseCIDR('2000::/3');

/** IPv4-compatible addresses `::a.b.c.d` (RFC 4291, deprecated), which ipaddr.js files as `unicast`. */
const IPV6_IPV4_COMPATIBLE = ipaddr.parseCIDR('::/96');

/** NAT64 local-use prefix (RFC 8215). It only exists inside an operator's network, so it is internal as a whole. */
const NAT64_LOCAL_USE = ipaddr.parseCIDR('64:ff9b:1::/48');

/**
 * Classifies an IP address given in any notation that ipaddr.js accepts:
 * dotted, short (`127.1`), decimal (`2130706433`), octal (`0177.0.0.1`),
 * hex (`0x7f.1`), IPv6 with or without brackets and zone id, and with
 * trailing dots. Returns `undefined` when the text is not an IP address.
 */
export function classifyAddress(text: string): AddressClassification | undefined {
  const parsed = parseAddress(text);
  if (parsed === undefined) {
    return undefined;
  }

  return parsed.kind() === 'ipv4' ? classifyIPv4(parsed as ipaddr.IPv4) : classifyIPv6(parsed as ipaddr.IPv6);
}

function parseAddress(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  let candidate = text.trim().toLowerCase();

  if (candidate.startsWith('[') && candidate.endsWith(']')) {
    candidate = candidate.slice(1, -1);
  }

  // The zone id (RFC 6874 writes it as `%25eth0` in URLs) selects an
  // interface and has no bearing on the range. ipaddr.js accepts only
  // alphanumeric zone ids, so any zone is cut off before parsing.
  const zoneStart = candidate.indexOf('%');
  if (zoneStart !== -1 && candidate.includes(':')) {
    candidate = candidate.slice(0, zoneStart);
  }

  // Resolvers treat `127.0.0.1.` like `127.0.0.1`.
  candidate = candidate.replace(/\.+$/, '');

  if (!ipaddr.isValid(candidate)) {
    return undefined;
  }

  const parsed = ipaddr.parse(candidate);
  if (parsed.kind() === 'ipv6') {
    // Drop any zone ipaddr.js kept so `address` is a plain literal.
    return new ipaddr.IPv6((parsed as ipaddr.IPv6).parts);
  }
  return parsed;
}

function classifyIPv4(address: ipaddr.IPv4): AddressClassification {
  const text = address.toString();
  const metadataRule = METADATA_ADDRESSES.get(text);
  if (metadataRule !== undefined) {
    return { address: text, family: 4, rule: metadataRule, internal: true, metadata: true };
  }

  const range = address.range();
  return { address: text, family: 4, rule: range === 'unicast' ? 'public' : range, internal: range !== 'unicast', metadata: false };
}

function classifyIPv6(address: ipaddr.IPv6): AddressClassification {
  const text = address.toString();
  const metadataRule = METADATA_ADDRESSES.get(text);
  if (metadataRule !== undefined) {
    return { address: text, family: 6, rule: metadataRule, internal: true, metadata: true };
  }

  const rule = ipv6Rule(address);
  const embedded = embeddedIPv4(address);

  // An address that embeds an IPv4 address (NAT64, 6to4, Teredo) reaches
  // that IPv4 host through a translator or relay, so it is only as public
  // as every IPv4 address it carries.
  if (embedded.length > 0) {
    for (const inner of embedded) {
      const innerClass = classifyIPv4(inner);
      if (innerClass.internal) {
        const innerRule = `${rule} embedding ${innerClass.address} (${innerClass.rule})`;
        return { address: text, family: 6, rule: innerRule, internal: true, metadata: innerClass.metadata };
      }
    }
    return { address: text, family: 6, rule: 'public', internal: false, metadata: false };
  }

  // An IPv4-mapped address reaches its IPv4 host directly from a dual-stack
  // socket, and an operator's NAT64 translates a local-use address, so a
  // metadata address inside either must stay blocked where internal
  // addresses are allowed.
  const carried = [mappedIPv4(address), ...nat64LocalUseIPv4(address)];
  const metadata = carried.some((inner) => inner !== undefined && METADATA_ADDRESSES.has(inner.toString()));

  return { address: text, family: 6, rule, internal: rule !== 'public', metadata };
}

/** IPv4-mapped (`::ffff:0:0/96`), IPv4-translated (`::ffff:0:0:0/96`) and IPv4-compatible (`::/96`) forms. */
const IPV4_IN_LOW_BITS = ['::ffff:0:0/96', '::ffff:0:0:0/96', '::/96'].map((range) => ipaddr.parseCIDR(range));

/** Returns the IPv4 address in the low 32 bits of an address in one of the {@link IPV4_IN_LOW_BITS} ranges. */
function mappedIPv4(address: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  if (!IPV4_IN_LOW_BITS.some((range) => address.match(range))) {
    return undefined;
  }
  return ipv4FromWords(address.parts[6] ?? 0, address.parts[7] ?? 0);
}

/**
 * Byte positions of the IPv4 address inside an IPv6 address for each NAT64
 * prefix length that fits in the local-use prefix: /48, /56, /64 and /96
 * (RFC 6052 section 2.2). Byte 8 is reserved and never carries address bits.
 */
const NAT64_LOCAL_USE_IPV4_BYTES: readonly (readonly number[])[] = [
  [6, 7, 9, 10],
  [7, 9, 10, 11],
  [9, 10, 11, 12],
  [12, 13, 14, 15],
];

/**
 * Returns the IPv4 addresses that a local-use NAT64 address carries under each
 * possible prefix length, because the operator's prefix length is not known here.
 */
function nat64LocalUseIPv4(address: ipaddr.IPv6): ipaddr.IPv4[] {
  if (!address.match(NAT64_LOCAL_USE)) {
    return [];
  }

  const bytes = address.toByteArray();
  return NAT64_LOCAL_USE_IPV4_BYTES.map((positions) => new ipaddr.IPv4(positions.map((position) => bytes[position] ?? 0)));
}

/** Builds the IPv4 address whose 32 bits are two 16-bit words of an IPv6 address. */
function ipv4FromWords(high: number, low: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

/** Returns `public` or the rule that makes an IPv6 address internal, not counting embedded IPv4 addresses. */
function ipv6Rule(address: ipaddr.IPv6): string {
  const range = address.range();

  if (range === 'rfc6052' && address.match(NAT64_LOCAL_USE)) {
    return 'nat64LocalUse';
  }
  if (range === 'rfc6052' || range === '6to4' || range === 'teredo') {
    return range;
  }
  if (range !== 'unicast') {
    return range;
  }

  if (address.match(IPV6_IPV4_COMPATIBLE)) {
    return 'ipv4Compatible';
  }
  if (!address.match(IPV6_GLOBAL_UNICAST)) {
    return 'notGlobalUnicast';
  }
  return 'public';
}

/**
 * Returns the IPv4 addresses that a NAT64 (RFC 6052 well-known prefix),
 * 6to4 (RFC 3056) or Teredo (RFC 4380) address routes to. A Teredo address
 * carries both the server address and the client address, the latter with
 * every bit inverted. The NAT64 local-use prefix is excluded because it is
 * internal as a whole and may embed the IPv4 address at other offsets.
 */
function embeddedIPv4(address: ipaddr.IPv6): ipaddr.IPv4[] {
  const range = address.range();
  const parts = address.parts;
  const word = (index: number): number => parts[index] ?? 0;

  if (range === 'rfc6052' && !address.match(NAT64_LOCAL_USE)) {
    return [ipv4FromWords(word(6), word(7))];
  }
  if (range === '6to4') {
    return [ipv4FromWords(word(1), word(2))];
  }
  if (range === 'teredo') {
    return [ipv4FromWords(word(2), word(3)), ipv4FromWords(~word(6) & 0xffff, ~word(7) & 0xffff)];
  }
  return [];
}

/** Result of classifying a host name that is not an IP address. */
export interface HostNameClassification {
  /** Lower-cased name without trailing dots. */
  readonly name: string;
  /** `public`, or the rule that makes the name internal. */
  readonly rule: string;
  readonly internal: boolean;
}

/**
 * Names that resolve, by standard or by convention, to the machine itself
 * or to a private network. They are rejected before any DNS query, so
 * `/etc/hosts` entries and search domains cannot reach internal services.
 */
const INTERNAL_NAME_SUFFIXES: readonly (readonly [suffix: string, rule: string])[] = [
  // RFC 6761 reserves localhost and all its subdomains for loopback.
  ['localhost', 'localhostName'],
  // ICANN reserved `.internal` for private use, for example metadata.google.internal.
  ['internal', 'internalName'],
  // RFC 6762 multicast DNS names answer on the local link only.
  ['local', 'multicastDnsName'],
  // RFC 8375 home networks.
  ['home.arpa', 'homeNetworkName'],
  ['localdomain', 'localdomainName'],
];

/**
 * Classifies a host name by its form alone, before DNS. Single-label names
 * such as `metadata` or `intranet` are internal, because they only resolve
 * through search domains or local host files.
 */
export function classifyHostName(host: string): HostNameClassification {
  const name = normalizeHostName(host);

  for (const [suffix, rule] of INTERNAL_NAME_SUFFIXES) {
    if (name === suffix || name.endsWith(`.${suffix}`)) {
      return { name, rule, internal: true };
    }
  }

  if (!name.includes('.')) {
    return { name, rule: 'singleLabelName', internal: true };
  }

  return { name, rule: 'public', internal: false };
}

/** Maximum length of a host name in DNS, in characters, without the trailing dot (RFC 1035 section 2.3.4). */
const MAX_HOST_NAME_LENGTH = 253;

/**
 * One label of a host name (RFC 1123 section 2.1): 1 to 63 letters, digits
 * and hyphens, not starting or ending with a hyphen. Underscores are
 * accepted too, because some private host names use them and resolvers look
 * them up.
 */
const HOST_NAME_LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/**
 * Tells whether a normalized host name (lower case, no trailing dot) can be
 * looked up in DNS. The URL parser accepts names such as `a..b`, `-a.example`
 * or `a$b.example` that no DNS server holds, and looking them up would only
 * send junk queries to the resolver.
 */
export function isValidHostName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_HOST_NAME_LENGTH && name.split('.').every((label) => HOST_NAME_LABEL.test(label));
}

/**
 * Normalizes a host for comparison: lower case, no brackets around IPv6,
 * no trailing dots, and IP addresses in canonical form.
 */
export function normalizeHostName(host: string): string {
  const address = parseAddress(host);
  if (address !== undefined) {
    return address.toString();
  }

  return host.trim().toLowerCase().replace(/\.+$/, '');
}
