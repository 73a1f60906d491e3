import { classifyAddress, classifyHostName, isValidHostName, normalizeHostName } from './address-classifier.js';
import { OutboundError } from './errors.js';
import type { ResolvedPolicy } from './policy.js';

/** A URL that passed every check that needs no DNS. */
export interface CheckedUrl {
  readonly url: URL;
  /** Normalized host: lower case, no brackets or trailing dots. */
  readonly host: string;
  readonly port: number;
  /** Set when the host is an IP address, which is then the only address to connect to. */
  readonly literalAddress: string | undefined;
  readonly allowInternal: boolean;
}

const DEFAULT_PORTS: Readonly<Record<string, number>> = { 'https:': 443, 'http:': 80 };

/**
 * Parses a URL and applies the checks that need no DNS: scheme, port,
 * allow-list, host name rules, for an IP literal the address rules, and
 * the absence of credentials. The WHATWG URL parser has already turned decimal,
 * octal, hex and short IPv4 forms into dotted quads, and it rejects IPv6
 * zone ids, so the address classifier receives canonical text here.
 */
export function checkUrl(input: string | URL, policy: ResolvedPolicy): CheckedUrl {
  const url = parseUrl(input);
  const host = normalizeHostName(url.hostname);

  if (!policy.schemes.has(url.protocol)) {
    const allowed = [...policy.schemes].join(', ');
    const shownHost = host === '' ? 'a URL without host' : host;
    throw new OutboundError('OUTBOUND_BLOCKED_SCHEME', `Outbound request to ${shownHost} was blocked: scheme ${url.protocol} is not allowed (allowed: ${allowed}).`, { host, rule: 'scheme' });
  }

  const port = url.port === '' ? (DEFAULT_PORTS[url.protocol] ?? 0) : Number(url.port);
  if (!policy.ports.has(port)) {
    const allowed = [...policy.ports].join(', ');
    throw new OutboundError('OUTBOUND_BLOCKED_PORT', `Outbound request to ${host} was blocked: port ${port} is not allowed (allowed: ${allowed}).`, { host, rule: 'port' });
  }

  const allowEntry = policy.allowedHosts?.get(host);
  if (policy.allowedHosts !== undefined && allowEntry === undefined) {
    throw new OutboundError('OUTBOUND_BLOCKED_HOST', `Outbound request to ${host} was blocked: the host is not on this use's allow-list.`, { host, rule: 'notAllowListed' });
  }
  const allowInternal = allowEntry?.allowInternal ?? false;

  let literalAddress: string | undefined;
  const literal = classifyAddress(host);
  if (literal !== undefined) {
    literalAddress = checkAddress(host, literal.address, allowInternal);
  } else {
    if (!isValidHostName(host)) {
      throw new OutboundError('OUTBOUND_INVALID_HOST', `Outbound URL is invalid: its host ${host.slice(0, 64)} is not a valid DNS name.`, { host: host.slice(0, 253), rule: 'hostName' });
    }

    const name = classifyHostName(host);
    if (name.internal && !allowInternal) {
      throw new OutboundError('OUTBOUND_BLOCKED_HOST', `Outbound request to ${host} was blocked: the name is internal (rule: ${name.rule}).`, { host, rule: name.rule });
    }
  }

  // Userinfo would be sent along on every redirect hop and would end up in
  // logs, so callers must send credentials in headers.
  if (url.username !== '' || url.password !== '') {
    throw new OutboundError('OUTBOUND_INVALID_URL', `Outbound URL for ${host} is invalid: it contains credentials. Send them in a request header instead.`, { host, rule: 'credentials' });
  }

  return { url, host, port, literalAddress, allowInternal };
}

/**
 * Throws OUTBOUND_BLOCKED_ADDRESS unless `address` may be connected to for
 * `host`. Returns the canonical address text.
 */
export function checkAddress(host: string, address: string, allowInternal: boolean): string {
  const classification = classifyAddress(address);
  if (classification === undefined) {
    throw new OutboundError('OUTBOUND_BLOCKED_ADDRESS', `Outbound request to ${host} was blocked: the resolver returned an invalid address.`, { host, rule: 'invalidAddress' });
  }

  const blocked = classification.metadata || (classification.internal && !allowInternal);
  if (blocked) {
    throw new OutboundError('OUTBOUND_BLOCKED_ADDRESS', `Outbound request to ${host} was blocked: address ${classification.address} is internal (rule: ${classification.rule}).`, { host, rule: classification.rule });
  }

  return classification.address;
}

function parseUrl(input: string | URL): URL {
  if (input instanceof URL) {
    return new URL(input.href);
  }

  try {
    return new URL(input);
  } catch {
    // Neither the input nor the parser's error (whose `input` property
    // repeats it) is kept, because the URL may contain credentials.
    throw new OutboundError('OUTBOUND_INVALID_URL', 'Outbound URL is invalid: it must be an absolute URL, and an IPv6 host must not carry a zone id.', { rule: 'syntax' });
  }
}
