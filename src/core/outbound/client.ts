import type { IncomingHttpHeaders } from 'node:http';

import { request as undiciRequest } from 'undici';
import type { Dispatcher } from 'undici';

import { OutboundError, type OutboundErrorCode } from './errors.js';
import { createPinnedAgent, RECEIVE_LIMIT_CODE } from './pinned-agent.js';
import type { ConnectAttempt } from './pinned-agent.js';
import { resolvePolicy } from './policy.js';
import type { OutboundPolicy, ResolvedPolicy } from './policy.js';
import { systemResolver, type Resolver } from './system-resolver.js';
import { checkAddress, checkUrl } from './target.js';
import type { CheckedUrl } from './target.js';

export { systemResolver, type Resolver } from './system-resolver.js';

export type OutboundMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** One outbound request. */
export interface OutboundRequest {
  /** Default GET. */
  readonly method?: OutboundMethod;
  /** Request headers. A `host` header is ignored, because the Host header always follows the URL. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array;
}

/** A completed outbound request. */
export interface OutboundResponse {
  /** Final URL after redirects. */
  readonly url: string;
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** The checked address the final response came from. */
  readonly address: string;
  /** Number of redirects followed. */
  readonly redirects: number;
}

/** Collaborators of the client that tests replace. */
export interface OutboundClientDependencies {
  /** Default {@link systemResolver}. */
  readonly resolver?: Resolver;
  /** Hook called before every socket is opened. If it throws, the connection is aborted. */
  readonly beforeConnect?: (attempt: ConnectAttempt) => void;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** Bytes a connection may receive on top of the body limit's multiple, for the TLS handshake and response headers. */
const RECEIVED_BYTES_ALLOWANCE = 64 * 1024;

/**
 * Returns how many bytes one connection may receive for a body limit of
 * `maxResponseBytes`. NOTE: the factor 4 is an estimate of the chunked
 * framing that legitimate servers add. A server that sends one body byte per
 * chunk needs more and fails with OUTBOUND_RESPONSE_TOO_LARGE.
 */
function maxReceivedBytes(maxResponseBytes: number): number {
  return maxResponseBytes * 4 + RECEIVED_BYTES_ALLOWANCE;
}

/**
 * The only request headers that follow a redirect to another origin: the
 * CORS-safelisted names, the user agent and W3C Trace Context. The Fetch
 * standard drops only Authorization, but callers also authenticate with
 * headers such as `X-API-Key` or a webhook signature, which the new origin
 * must not get.
 */
const CROSS_ORIGIN_HEADERS = new Set(['accept', 'accept-language', 'content-language', 'content-type', 'user-agent', 'traceparent', 'tracestate']);

interface Hop {
  readonly method: OutboundMethod;
  readonly headers: Record<string, string>;
  readonly body: string | Uint8Array | undefined;
}

/**
 * HTTP client for URLs that come from configuration or from requests
 * (remote JWKS, webhooks, URL imports), hardened against server-side request
 * forgery (OWASP API7:2023).
 *
 * For the URL and every redirect it checks scheme, port, allow-list and host
 * name, resolves the host once, rejects the request if any resolved address
 * is internal, and then connects to exactly the address it checked. It
 * follows a bounded number of redirects and caps response size and total
 * time. Every failure is an {@link OutboundError} with a stable code.
 */
export class OutboundClient {
  readonly #policy: ResolvedPolicy;
  readonly #resolver: Resolver;
  readonly #beforeConnect: ((attempt: ConnectAttempt) => void) | undefined;

  constructor(policy: OutboundPolicy = {}, dependencies: OutboundClientDependencies = {}) {
    this.#policy = resolvePolicy(policy);
    this.#resolver = dependencies.resolver ?? systemResolver;
    this.#beforeConnect = dependencies.beforeConnect;
  }

  /** Sends `request` to `url` and returns the response after at most `maxRedirects` redirects. */
  async fetch(url: string | URL, request: OutboundRequest = {}): Promise<OutboundResponse> {
    const first = checkUrl(url, this.#policy);
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.#policy.timeoutMs);

    try {
      return await this.#follow(first, request, deadline.signal);
    } catch (error) {
      // Once the deadline fires, DNS, undici and the body stream fail with
      // their own abort errors. Checks that failed on their own keep their code.
      if (deadline.signal.aborted && !(error instanceof OutboundError)) {
        throw new OutboundError('OUTBOUND_TIMEOUT', `Outbound request to ${first.host} timed out after ${this.#policy.timeoutMs} ms.`, { host: first.host, rule: 'timeout' });
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  async #follow(first: CheckedUrl, request: OutboundRequest, signal: AbortSignal): Promise<OutboundResponse> {
    let target = first;
    let hop: Hop = {
      method: request.method ?? 'GET',
      headers: withoutHostHeader(request.headers ?? {}),
      body: request.body,
    };

    for (let redirects = 0; ; redirects += 1) {
      const address = await this.#resolveChecked(target, signal);
      const agent = createPinnedAgent(address, {
        connectTimeoutMs: this.#policy.timeoutMs,
        beforeConnect: this.#beforeConnect,
        maxReceivedBytes: maxReceivedBytes(this.#policy.maxResponseBytes),
      });

      try {
        const response = await this.#send(agent, target, hop, signal);
        const location = redirectLocation(response);

        if (location === undefined) {
          const body = await readCapped(response, target.host, this.#policy.maxResponseBytes, hop.method, signal);
          return { url: target.url.href, status: response.statusCode, headers: response.headers, body, address, redirects };
        }

        discardBody(response);
        if (redirects >= this.#policy.maxRedirects) {
          throw new OutboundError('OUTBOUND_TOO_MANY_REDIRECTS', `Outbound request to ${first.host} was blocked: more than ${this.#policy.maxRedirects} redirects.`, { host: first.host, rule: 'maxRedirects' });
        }

        const next = checkRedirect(location, target, this.#policy);
        hop = redirectedHop(hop, response.statusCode, target.url, next.url);
        target = next;
      } finally {
        await agent.destroy();
      }
    }
  }

  /** Resolves the host once, checks every resolved address, and returns the first one as the address to connect to. */
  async #resolveChecked(target: CheckedUrl, signal: AbortSignal): Promise<string> {
    if (target.literalAddress !== undefined) {
      return target.literalAddress;
    }

    let answers: readonly string[];
    try {
      answers = await abortable(this.#resolver(target.host, signal), signal);
    } catch (error) {
      if (signal.aborted) {
        throw error;
      }
      throw new OutboundError('OUTBOUND_DNS_FAILED', `Outbound request to ${target.host} failed: the host name could not be resolved.`, { host: target.host, rule: 'dns', cause: error });
    }

    if (answers.length === 0) {
      throw new OutboundError('OUTBOUND_DNS_FAILED', `Outbound request to ${target.host} failed: the host name has no addresses.`, { host: target.host, rule: 'dns' });
    }

    // Every resolved address is checked, not only the one used, because a
    // name with one public and one internal address is a rebinding setup.
    const checked = answers.map((answer) => checkAddress(target.host, answer, target.allowInternal));
    return checked[0] as string;
  }

  async #send(agent: Dispatcher, target: CheckedUrl, hop: Hop, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    try {
      return await undiciRequest(target.url, {
        dispatcher: agent,
        method: hop.method,
        headers: hop.headers,
        body: hop.body,
        signal,
      });
    } catch (error) {
      if (signal.aborted) {
        throw error;
      }
      if (isReceiveLimitError(error)) {
        throw receivedTooMuch(target.host, this.#policy.maxResponseBytes, error);
      }
      throw new OutboundError('OUTBOUND_CONNECTION_FAILED', `Outbound request to ${target.host} failed: ${describeError(error)}.`, { host: target.host, rule: 'connection', cause: error });
    }
  }
}

function withoutHostHeader(headers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== 'host'));
}

function redirectLocation(response: Dispatcher.ResponseData): string | undefined {
  if (!REDIRECT_STATUSES.has(response.statusCode)) {
    return undefined;
  }

  const location = response.headers.location;
  return typeof location === 'string' && location !== '' ? location : undefined;
}

/** Faults of a URL's own text, as opposed to a target that the policy rejects. */
const MALFORMED_URL_CODES: ReadonlySet<OutboundErrorCode> = new Set(['OUTBOUND_INVALID_URL', 'OUTBOUND_INVALID_HOST']);

/**
 * Checks the target of a redirect by the same rules as the first URL. A
 * Location that is not a valid URL, contains credentials or names an invalid
 * host throws OUTBOUND_INVALID_REDIRECT for the host that sent it, because
 * the remote server is at fault there and the caller's URL was fine.
 */
function checkRedirect(location: string, from: CheckedUrl, policy: ResolvedPolicy): CheckedUrl {
  const invalidRedirect = (rule: string, cause?: unknown): OutboundError =>
    new OutboundError('OUTBOUND_INVALID_REDIRECT', `Outbound request to ${from.host} failed: its redirect Location is invalid (rule: ${rule}).`, { host: from.host, rule, cause });

  let url: URL;
  try {
    url = new URL(location, from.url);
  } catch {
    throw invalidRedirect('redirectLocation');
  }

  try {
    return checkUrl(url, policy);
  } catch (error) {
    if (error instanceof OutboundError && MALFORMED_URL_CODES.has(error.code)) {
      throw invalidRedirect(error.rule ?? 'syntax', error);
    }
    throw error;
  }
}

/**
 * Builds the next hop the way the Fetch standard does: 303, and 301 or 302
 * after a POST, continue as GET without a body. When the origin changes,
 * only the headers of CROSS_ORIGIN_HEADERS are kept.
 */
function redirectedHop(hop: Hop, status: number, from: URL, to: URL): Hop {
  const becomesGet = (status === 303 && hop.method !== 'HEAD') || ((status === 301 || status === 302) && hop.method === 'POST');
  const headers: Record<string, string> = {};

  for (const [name, value] of Object.entries(hop.headers)) {
    const lower = name.toLowerCase();
    if (becomesGet && lower.startsWith('content-')) {
      continue;
    }
    if (from.origin !== to.origin && !CROSS_ORIGIN_HEADERS.has(lower)) {
      continue;
    }
    headers[name] = value;
  }

  return becomesGet ? { method: 'GET', headers, body: undefined } : { ...hop, headers };
}

/**
 * Reads the body and aborts as soon as it exceeds `maxBytes`, without
 * buffering the rest. A connection that fails while the body arrives (closed
 * early, reset, or a malformed chunk) throws OUTBOUND_CONNECTION_FAILED.
 */
async function readCapped(response: Dispatcher.ResponseData, host: string, maxBytes: number, method: OutboundMethod, signal: AbortSignal): Promise<Buffer> {
  const tooLarge = (): OutboundError =>
    new OutboundError('OUTBOUND_RESPONSE_TOO_LARGE', `Outbound response from ${host} was rejected: the body exceeds ${maxBytes} bytes.`, { host, rule: 'maxResponseBytes' });

  if (method === 'HEAD') {
    discardBody(response);
    return Buffer.alloc(0);
  }

  const declared = Number(response.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    discardBody(response);
    throw tooLarge();
  }

  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body) {
      const buffer = chunk as Buffer;
      size += buffer.length;
      if (size > maxBytes) {
        discardBody(response);
        throw tooLarge();
      }
      chunks.push(buffer);
    }
  } catch (error) {
    // After the deadline the stream fails with an abort error, which
    // fetch reports as a timeout.
    if (error instanceof OutboundError || signal.aborted) {
      throw error;
    }
    if (isReceiveLimitError(error)) {
      throw receivedTooMuch(host, maxBytes, error);
    }
    throw new OutboundError('OUTBOUND_CONNECTION_FAILED', `Outbound response from ${host} failed before its body was complete: ${describeError(error)}.`, { host, rule: 'responseBody', cause: error });
  }

  return Buffer.concat(chunks, size);
}

function isReceiveLimitError(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === RECEIVE_LIMIT_CODE;
}

function receivedTooMuch(host: string, maxResponseBytes: number, cause: unknown): OutboundError {
  const limit = maxReceivedBytes(maxResponseBytes);
  const message = `Outbound response from ${host} was rejected: the connection received more than ${limit} bytes for a body limit of ${maxResponseBytes} bytes.`;
  return new OutboundError('OUTBOUND_RESPONSE_TOO_LARGE', message, { host, rule: 'maxReceivedBytes', cause });
}

/** Closes a body that will not be read. undici reports that as an abort error, which is expected here. */
function discardBody(response: Dispatcher.ResponseData): void {
  response.body.on('error', () => {});
  response.body.destroy();
}

/** Rejects as soon as `signal` aborts, for work such as DNS that takes no signal. */
function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    return Promise.reject(signal.reason);
  }

  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function describeError(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? `connection error ${code}` : 'connection error';
}
