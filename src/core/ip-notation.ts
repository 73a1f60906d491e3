import ipaddr from 'ipaddr.js';

/**
 * Checks that IP addresses and CIDR ranges from configuration or API input
 * are written in standard notation. The legacy inet_aton forms (`10.1`,
 * `127.1`, `0x7f.0.0.1`, `017.0.0.1`, `2130706433`) read differently in
 * different libraries. ipaddr.js 2.5 and the WHATWG URL parser read
 * `017.0.0.1` as 15.0.0.1 (octal), Node's net.isIP rejects it, and a
 * reader that ignores leading zeros reads 17.0.0.1. A range written that way
 * could then match another network than the one its author meant, so only
 * dotted-quad decimal IPv4 and standard IPv6 text are accepted.
 */

/** One IPv4 part: a decimal number from 0 to 255 without leading zeros. */
const IPV4_PART = '(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])';

const DOTTED_QUAD = new RegExp(`^${IPV4_PART}(?:\\.${IPV4_PART}){3}$`);

/** One IPv6 group: one to four hexadecimal digits. */
const IPV6_GROUP = /^[0-9A-Fa-f]{1,4}$/;

/** A prefix length in decimal without leading zeros. ipaddr.js checks that it fits the address family. */
const PREFIX_LENGTH = /^(?:0|[1-9][0-9]{0,2})$/;

/** Returns whether `text` is an IPv4 address as four decimal numbers without leading zeros, such as 192.0.2.1. */
export function isDottedQuad(text: string): boolean {
  return DOTTED_QUAD.test(text);
}

/**
 * Returns whether `text` is an IPv6 address in the text forms of RFC 4291
 * section 2.2: groups of one to four hexadecimal digits, at most one `::`,
 * and optionally a dotted-quad IPv4 address as the last 32 bits. A zone id
 * (`%eth0`) is not accepted.
 */
export function isStandardIPv6(text: string): boolean {
  if (!text.includes(':') || !ipaddr.IPv6.isValid(text)) {
    return false;
  }

  const groups = text.split(':');
  const last = groups[groups.length - 1] as string;
  if (last.includes('.')) {
    if (!isDottedQuad(last)) {
      return false;
    }
    groups.pop();
  }
  // `::` leaves empty strings around it, which ipaddr.js has already checked.
  return groups.every((group) => group === '' || IPV6_GROUP.test(group));
}

/** Returns whether `text` is an IPv4 or IPv6 address in standard notation. */
export function isStandardAddress(text: string): boolean {
  return isDottedQuad(text) || isStandardIPv6(text);
}

/**
 * Explains why `text` is not a CIDR range in standard notation, or returns
 * undefined when it is one. The explanation names the value.
 */
export function cidrNotationProblem(text: string): string | undefined {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const prefixLength = slash === -1 ? '' : text.slice(slash + 1);

  if (slash === -1 || !PREFIX_LENGTH.test(prefixLength) || !ipaddr.isValidCIDR(text)) {
    return `'${text}' is not a CIDR range such as 203.0.113.0/24 or 2001:db8::/32`;
  }
  if (!isStandardAddress(address)) {
    return `'${text}' is not in standard notation: write IPv4 as four decimal numbers without leading zeros, such as 10.1.0.0/16, and IPv6 as in RFC 4291`;
  }
  return undefined;
}

/**
 * Explains why `text` is neither an address nor a CIDR range in standard
 * notation, or returns undefined when it is one of them.
 */
export function addressOrCidrNotationProblem(text: string): string | undefined {
  if (text.includes('/')) {
    return cidrNotationProblem(text);
  }
  if (isStandardAddress(text)) {
    return undefined;
  }
  if (ipaddr.isValid(text)) {
    return `'${text}' is not in standard notation: write IPv4 as four decimal numbers without leading zeros, such as 10.1.0.1, and IPv6 as in RFC 4291`;
  }
  return `'${text}' is not an IP address or CIDR range`;
}
