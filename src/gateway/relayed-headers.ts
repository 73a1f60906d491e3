/**
 * The rules for relaying upstream response headers to the caller. They decide
 * which headers the caller receives, and how these join the headers that
 * the gateway has already set on the reply. The gateway sets its CORS
 * headers, the RateLimit fields of its own limits, and the Deprecation,
 * Sunset and Link fields of an operation's lifecycle.
 */

import type { FastifyReply } from 'fastify';
import type { IncomingHttpHeaders } from 'node:http';

import { StringMemo } from '../core/cache/string-memo.js';
import { SOFTWARE_BANNER_HEADERS, securityHeaders } from '../core/security-headers.js';
import type { UpstreamLinkRewriter } from './upstream-links.js';

/** Headers that apply to one connection and not to the message, in requests and responses (RFC 9110 section 7.6.1). */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** Limits of the remembered decisions per header name, which repeat from request to request. */
export const HEADER_NAME_MEMO = { maxEntries: 256, maxKeyLength: 64 };

const NO_CONNECTION_OPTIONS: ReadonlySet<string> = new Set();

/** Returns the names that a Connection header lists, which apply to one connection only (RFC 9110 section 7.6.1). */
export function connectionOptions(value: string | string[] | undefined): ReadonlySet<string> {
  // The usual values name no other header, so most requests skip the parsing.
  if (value === undefined || value === 'keep-alive' || value === 'close') {
    return NO_CONNECTION_OPTIONS;
  }

  const text = Array.isArray(value) ? value.join(',') : value;
  return new Set(text.split(',').map((name) => name.trim().toLowerCase()).filter((name) => name !== ''));
}

/**
 * The treatment of one upstream response header:
 *
 * - `dropped`: the caller never receives it;
 * - `copied`: it is relayed as the upstream sent it;
 * - `appended`: a list field (RFC 9110 section 5.6.1) whose members follow
 *   the gateway's members of the same field, if the gateway set any;
 * - `gateway-first`: the gateway's value, if it set one, replaces the upstream's;
 * - `vary`: it is relayed with Origin added, because the gateway's CORS
 *   headers vary by Origin;
 * - `location`: a URL (in Refresh, after the delay), relayed with the
 *   upstream's base URL replaced by the gateway's (see UpstreamLinkRewriter).
 */
type RelayRule = 'dropped' | 'copied' | 'appended' | 'gateway-first' | 'vary' | 'location';

/** Response headers whose value contains one URL, which may name the upstream's internal address. */
const LOCATION_RESPONSE_HEADERS = new Set(['location', 'content-location', 'refresh']);

/**
 * Response headers whose effect in a browser reaches past the response to
 * the whole origin, which also serves the sign-in and consent pages:
 *
 * - Set-Cookie and the obsolete Set-Cookie2 (RFC 2965) set cookies on it;
 * - Clear-Site-Data deletes its cookies, storage and caches, which signs
 *   the user out of the authorization server;
 * - NEL and Report-To install a reporting policy that lasts `max_age` and
 *   sends reports on requests to any of its pages to a URL the upstream chose;
 * - Alt-Svc (RFC 7838) names other endpoints for the origin, where the
 *   upstream can only name its own;
 * - Service-Worker-Allowed lets a script under the mount path register a
 *   service worker that controls every page of the origin;
 * - Accept-CH and Critical-CH set which client hints the browser sends to
 *   every page of the origin from then on, the sign-in page included.
 */
const ORIGIN_WIDE_RESPONSE_HEADERS: readonly string[] = [
  'set-cookie',
  'set-cookie2',
  'clear-site-data',
  'nel',
  'report-to',
  'alt-svc',
  'service-worker-allowed',
  'accept-ch',
  'critical-ch',
];

/**
 * Response headers from the upstream that would reveal its stack, act on
 * the whole origin (ORIGIN_WIDE_RESPONSE_HEADERS), or override the
 * gateway's security headers, CORS policy and request id (the one its
 * logs and problem documents carry). Proxy-Authenticate and
 * Proxy-Authentication-Info apply only to the next client on the response
 * chain (RFC 9110 sections 11.7.1 and 11.7.3), which is the gateway itself.
 */
const DROPPED_RESPONSE_HEADERS = new Set([
  ...SOFTWARE_BANNER_HEADERS,
  ...ORIGIN_WIDE_RESPONSE_HEADERS,
  'x-request-id',
  'proxy-authenticate',
  'proxy-authentication-info',
  ...Object.keys(securityHeaders({ https: true })),
]);

/**
 * Lists that the gateway and the upstream both fill: the RateLimit fields
 * (draft-ietf-httpapi-ratelimit-headers) name each limit by its policy, and
 * Link carries the gateway's lifecycle links beside the upstream's own.
 */
const APPENDED_RESPONSE_HEADERS = new Set(['ratelimit', 'ratelimit-policy', 'link']);

/** The operation's lifecycle as the gateway's configuration declares it (RFC 9745 and RFC 8594), which the upstream cannot contradict. */
const GATEWAY_FIRST_RESPONSE_HEADERS = new Set(['deprecation', 'sunset']);

const relayRules = new StringMemo<RelayRule>((name) => {
  const lower = name.toLowerCase();
  if (DROPPED_RESPONSE_HEADERS.has(lower) || HOP_BY_HOP_HEADERS.has(lower) || lower.startsWith('access-control-')) {
    return 'dropped';
  }
  if (APPENDED_RESPONSE_HEADERS.has(lower)) {
    return 'appended';
  }
  if (GATEWAY_FIRST_RESPONSE_HEADERS.has(lower)) {
    return 'gateway-first';
  }
  if (LOCATION_RESPONSE_HEADERS.has(lower)) {
    return 'location';
  }
  return lower === 'vary' ? 'vary' : 'copied';
}, HEADER_NAME_MEMO);

/** A Vary list that names Origin or `*` as one of its members, in any case. */
const VARIES_BY_ORIGIN = /(?:^|,)\s*(?:origin|\*)\s*(?:,|$)/i;

/**
 * Adds Origin to an upstream's Vary value. The gateway's CORS headers depend
 * on the Origin of every request, and the upstream's Vary would otherwise
 * replace the gateway's `Vary: Origin`.
 */
export function varyWithOrigin(value: string | string[]): string {
  const text = Array.isArray(value) ? value.join(', ') : value;
  if (VARIES_BY_ORIGIN.test(text)) {
    return text;
  }
  return text.trim() === '' ? 'Origin' : `${text}, Origin`;
}

type ReplyHeaderValue = string | number | string[];

/**
 * The gateway's own value of each field that an upstream response also
 * set, per reply. A reply gets an entry only when such a field occurs, so
 * most requests allocate nothing here.
 */
const gatewayValues = new WeakMap<FastifyReply, Map<string, ReplyHeaderValue>>();

function keepGatewayValue(reply: FastifyReply, name: string, value: ReplyHeaderValue): void {
  let values = gatewayValues.get(reply);
  if (values === undefined) {
    values = new Map();
    gatewayValues.set(reply, values);
  }
  values.set(name, value);
}

/** Joins the field lines of a list field, as RFC 9110 section 5.3 allows. */
function listText(value: ReplyHeaderValue): string {
  return Array.isArray(value) ? value.join(', ') : String(value);
}

function rewriteLocation(links: UpstreamLinkRewriter, name: string, value: string): string {
  return name.toLowerCase() === 'refresh' ? links.rewriteRefresh(value) : links.rewrite(value);
}

/**
 * Sets the upstream response headers on `reply`, following the rule of
 * each name. Fields named in the upstream's Connection header are dropped.
 * `links` rewrites the URLs of Location, Content-Location, Refresh and Link.
 */
export function relayResponseHeaders(reply: FastifyReply, upstream: IncomingHttpHeaders, links?: UpstreamLinkRewriter): void {
  const perConnection = connectionOptions(upstream.connection);

  for (const [name, value] of Object.entries(upstream)) {
    const rule = relayRules.get(name);
    if (value === undefined || rule === 'dropped' || (perConnection.size > 0 && perConnection.has(name.toLowerCase()))) {
      continue;
    }

    if (rule === 'copied') {
      reply.header(name, value);
      continue;
    }
    if (rule === 'vary') {
      reply.header(name, varyWithOrigin(value));
      continue;
    }
    if (rule === 'location') {
      reply.header(name, links === undefined ? value : rewriteLocation(links, name, listText(value)));
      continue;
    }

    const relayed = links !== undefined && name.toLowerCase() === 'link' ? links.rewriteLinks(listText(value)) : value;
    const own = reply.getHeader(name);
    if (own === undefined) {
      reply.header(name, relayed);
      continue;
    }
    keepGatewayValue(reply, name.toLowerCase(), own);
    if (rule === 'appended') {
      reply.header(name, `${listText(own)}, ${listText(relayed)}`);
    }
  }
}

const NO_NAMES: ReadonlySet<string> = new Set();

/**
 * Undoes relayResponseHeaders before the gateway sends a body of its own:
 * each relayed field is removed, or set back to the gateway's own value
 * where both had set it. Vary stays, because it also carries the gateway's
 * `Vary: Origin`, and so do the lower-case names in `keep`.
 */
export function removeRelayedHeaders(reply: FastifyReply, upstream: IncomingHttpHeaders, keep: ReadonlySet<string> = NO_NAMES): void {
  const perConnection = connectionOptions(upstream.connection);
  const own = gatewayValues.get(reply);

  for (const [name, value] of Object.entries(upstream)) {
    const rule = relayRules.get(name);
    const lower = name.toLowerCase();
    if (value === undefined || rule === 'dropped' || rule === 'vary' || keep.has(lower) || perConnection.has(lower)) {
      continue;
    }

    const gatewayValue = own?.get(lower);
    if (gatewayValue === undefined) {
      reply.removeHeader(name);
    } else {
      reply.header(name, gatewayValue);
    }
  }
}
