import { classifyAddress, normalizeHostName } from './address-classifier.js';

/** A host that a policy's allow-list opens. */
export interface AllowedHost {
  /**
   * Exact host name or IP address, without scheme, port or path. Matched
   * case-insensitively, without trailing dots and never as a suffix. An
   * internationalized name matches its punycode form, as URLs carry it.
   */
  readonly name: string;
  /**
   * Lets this host resolve to internal addresses and use internal names
   * such as `*.internal`. Cloud metadata addresses stay blocked.
   */
  readonly allowInternal?: boolean;
}

/** Limits of one use of the outbound client: reachable targets, redirects, response size and time. */
export interface OutboundPolicy {
  /** Allows plain `http:` next to `https:`. Default false. */
  readonly allowHttp?: boolean;
  /** Ports the URL and every redirect may use. Default 443, plus 80 when `allowHttp` is set. */
  readonly allowedPorts?: readonly number[];
  /** When set, only these hosts may be requested or redirected to. */
  readonly allowedHosts?: readonly AllowedHost[];
  /** Maximum redirects followed per request. Default 3. */
  readonly maxRedirects?: number;
  /**
   * Maximum response body size in bytes. Default 1 MiB. Each connection may
   * also receive at most 4 times this plus 64 KiB in all, TLS and HTTP
   * framing included.
   */
  readonly maxResponseBytes?: number;
  /** Maximum total time of a request, from DNS through the last body byte and across redirects, in milliseconds. Default 5000. */
  readonly timeoutMs?: number;
}

/** A policy with every default applied and the allow-list keyed by normalized name. */
export interface ResolvedPolicy {
  readonly schemes: ReadonlySet<string>;
  readonly ports: ReadonlySet<number>;
  /** `undefined` when no allow-list is set, so every public host is open. */
  readonly allowedHosts: ReadonlyMap<string, AllowedHost> | undefined;
  readonly maxRedirects: number;
  readonly maxResponseBytes: number;
  readonly timeoutMs: number;
}

export const DEFAULT_MAX_REDIRECTS = 3;
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;
export const DEFAULT_TIMEOUT_MS = 5000;

/** Applies the defaults to a policy and validates its numbers, throwing a RangeError for an invalid one. */
export function resolvePolicy(policy: OutboundPolicy): ResolvedPolicy {
  const allowHttp = policy.allowHttp ?? false;
  const ports = policy.allowedPorts ?? (allowHttp ? [443, 80] : [443]);
  for (const port of ports) {
    requireInteger('allowedPorts', port, 1, 65_535);
  }

  const maxRedirects = policy.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const maxResponseBytes = policy.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const timeoutMs = policy.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  requireInteger('maxRedirects', maxRedirects, 0, 20);
  requireInteger('maxResponseBytes', maxResponseBytes, 0, Number.MAX_SAFE_INTEGER);
  requireInteger('timeoutMs', timeoutMs, 1, 600_000);

  let allowedHosts: Map<string, AllowedHost> | undefined;
  if (policy.allowedHosts !== undefined) {
    allowedHosts = new Map(policy.allowedHosts.map((host) => [allowListKey(host.name), host]));
  }

  return {
    schemes: new Set(allowHttp ? ['https:', 'http:'] : ['https:']),
    ports: new Set(ports),
    allowedHosts,
    maxRedirects,
    maxResponseBytes,
    timeoutMs,
  };
}

/**
 * Returns the allow-list key of `name`: the host as the URL parser writes it
 * (lower case, punycode for an internationalized name, canonical IP
 * address), which is the form that checkUrl looks up. Throws a RangeError for
 * a name that is not a host alone, because such an entry would never match.
 */
function allowListKey(name: string): string {
  if (classifyAddress(name) !== undefined) {
    return normalizeHostName(name);
  }

  const hostname = parseHostAlone(name);
  if (hostname === undefined) {
    throw new RangeError(`Invalid outbound policy: allowedHosts name ${JSON.stringify(name)} is not a host name or IP address. Give the host alone, without scheme, port or path.`);
  }
  return normalizeHostName(hostname);
}

/** Returns the host name the URL parser reads from `name`, or undefined when `name` is more than a host name or none. */
function parseHostAlone(name: string): string | undefined {
  // A colon can only be a port or a scheme here, since IP addresses were handled before.
  if (name === '' || name.includes(':')) {
    return undefined;
  }

  try {
    const url = new URL(`https://${name}/`);
    return url.href === `https://${url.hostname}/` ? url.hostname : undefined;
  } catch {
    return undefined;
  }
}

function requireInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`Invalid outbound policy: ${name} must be an integer from ${min} to ${max}, got ${value}.`);
  }
}
