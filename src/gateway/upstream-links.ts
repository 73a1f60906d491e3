/**
 * Rewrites absolute URLs that point at the upstream's own base URL into the
 * gateway's public URL and mount path. A service that builds absolute
 * links from the Host header it receives, which the gateway sets to the
 * upstream's host and port, writes them with its internal address. Relayed
 * unchanged, they would show callers that address and send them to a
 * host they cannot reach, past the gateway.
 */
/**
 * The start of a Refresh value with a URL: the delay, `;` or `,`, an
 * optional `url=` and an optional quote. The rest of the value is the URL
 * and a closing quote. The URL is split off without a regular expression,
 * because a lazy match of it backtracks over a run of spaces once per
 * position, in time quadratic in the field's length.
 */
const REFRESH_HEAD = /^\s*[0-9.]+\s*[;,]\s*(?:url\s*=\s*)?['"]?/i;

/** A URI reference in a Link value. `[^<>]` keeps a run of unclosed `<` from being scanned once per bracket. */
const LINK_TARGET = /<([^<>]*)>/g;

export class UpstreamLinkRewriter {
  readonly #upstreamOrigin: string;
  readonly #upstreamPrefix: string;
  readonly #publicBase: string;

  /**
   * @param upstreamUrl the upstream's base URL
   * @param publicOrigin the origin at which callers reach the gateway
   * @param mountPath the path under which the gateway serves this upstream, without a trailing slash
   */
  constructor(upstreamUrl: URL, publicOrigin: string, mountPath: string) {
    this.#upstreamOrigin = upstreamUrl.origin;
    this.#upstreamPrefix = upstreamUrl.pathname.replace(/\/+$/, '');
    this.#publicBase = `${publicOrigin}${mountPath}`;
  }

  /**
   * Returns `uri` with the upstream's base URL replaced by the public one,
   * or unchanged when it is relative or points elsewhere.
   *
   * NOTE: an absolute URL on the upstream's origin but outside its base
   * path has no public equivalent and is relayed unchanged.
   */
  rewrite(uri: string): string {
    const parsed = URL.parse(uri.trim());
    if (parsed === null || parsed.origin !== this.#upstreamOrigin) {
      return uri;
    }

    const path = parsed.pathname;
    const prefix = this.#upstreamPrefix;
    if (prefix !== '' && path !== prefix && !path.startsWith(`${prefix}/`)) {
      return uri;
    }
    return `${this.#publicBase}${path.slice(prefix.length)}${parsed.search}${parsed.hash}`;
  }

  /**
   * Rewrites the URL of a Refresh field value, such as
   * `0; url=http://upstream/orders`, which browsers follow as a redirect
   * after the delay. A value without a URL is unchanged.
   */
  rewriteRefresh(value: string): string {
    const head = REFRESH_HEAD.exec(value)?.[0];
    if (head === undefined) {
      return value;
    }

    const rest = value.slice(head.length);
    const trimmed = rest.trimEnd();
    const closingQuote = trimmed.endsWith('"') || trimmed.endsWith("'") ? 1 : 0;
    const uri = rest.slice(0, trimmed.length - closingQuote);
    if (uri === '' || uri.includes('"') || uri.includes("'")) {
      return value;
    }
    return `${head}${this.rewrite(uri)}${rest.slice(uri.length)}`;
  }

  /** Rewrites each URI reference of a Link field value (RFC 8288), such as `<http://upstream/orders?page=2>; rel="next"`. */
  rewriteLinks(value: string): string {
    return value.replace(LINK_TARGET, (_match, uri: string) => `<${this.rewrite(uri)}>`);
  }
}
