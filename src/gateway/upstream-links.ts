/**
 * Rewrites URLs that point at the upstream's own base URL into the
 * gateway's public URL and mount path. A service that builds absolute
 * links from the Host header it receives, which the gateway sets to the
 * upstream's host and port, writes them with its internal address. Relayed
 * unchanged, they would show callers that address and send them to a
 * host they cannot reach, past the gateway. A path-absolute reference such
 * as `/orders/5`, which Express's res.redirect sends as given, names a path
 * of the upstream too, and would send callers outside the mount path.
 */

/**
 * The start of a Refresh value with a URL: the delay, `;` or `,`, an
 * optional `url=` and an optional quote. The rest of the value is the URL
 * and a closing quote. The URL is split off without a regular expression,
 * because a lazy match of it backtracks over a run of spaces once per
 * position, in time quadratic in the field's length.
 */
const REFRESH_HEAD = /^\s*[0-9.]+\s*[;,]\s*(?:url\s*=\s*)?['"]?/i;

/**
 * A Link value's parts that can hold a URL: a URI reference in angle
 * brackets, or an `anchor` parameter, which RFC 8288 section 3.2 makes a
 * quoted URI reference. Other quoted strings are matched whole, so that
 * brackets inside a `title` stay as they are. `[^<>]` keeps a run of
 * unclosed `<` from being scanned once per bracket. For the same reason a
 * quoted string that is never closed, or ends in a lone backslash, runs to
 * the end of the value. Otherwise a failed match would be tried again from
 * each escaped quote in it, such as in `"\"\"\"…`.
 */
const LINK_URL = /<([^<>]*)>|(\banchor\s*=\s*)"([^"\\]*)"|"(?:[^"\\]|\\[\s\S]|\\$)*(?:"|$)/gi;

/** A URI scheme and its colon (RFC 3986 section 3.1). */
const SCHEME = /^[a-z][a-z0-9+.-]*:/i;

export class UpstreamLinkRewriter {
  readonly #upstreamUrl: URL;
  readonly #upstreamPrefix: string;
  readonly #publicOrigin: string;
  readonly #mountPath: string;

  /**
   * @param upstreamUrl the upstream's base URL
   * @param publicOrigin the origin at which callers reach the gateway
   * @param mountPath the path under which the gateway serves this upstream, without a trailing slash
   */
  constructor(upstreamUrl: URL, publicOrigin: string, mountPath: string) {
    this.#upstreamUrl = upstreamUrl;
    this.#upstreamPrefix = upstreamUrl.pathname.replace(/\/+$/, '');
    this.#publicOrigin = publicOrigin;
    this.#mountPath = mountPath;
  }

  /**
   * Returns `uri` with the upstream's base URL replaced by the public one,
   * or unchanged when it points elsewhere. An absolute URL becomes an
   * absolute public URL. A reference without a scheme that starts with `/`
   * or `\\`, which browsers also read as `/`, resolves against the
   * upstream's origin and becomes a path-absolute reference under the mount
   * path. Other relative references resolve against the request URL, whose
   * path the gateway maps the same way, so they are unchanged.
   *
   * NOTE: a URL on the upstream's origin but outside its base path has no
   * public equivalent and is relayed unchanged.
   */
  rewrite(uri: string): string {
    const reference = uri.trim();
    const absolute = SCHEME.test(reference);
    if (!absolute && !reference.startsWith('/') && !reference.startsWith('\\')) {
      return uri;
    }

    const parsed = URL.parse(reference, this.#upstreamUrl.href);
    if (parsed === null || parsed.origin !== this.#upstreamUrl.origin) {
      return uri;
    }

    const path = parsed.pathname;
    const prefix = this.#upstreamPrefix;
    if (prefix !== '' && path !== prefix && !path.startsWith(`${prefix}/`)) {
      return uri;
    }
    const publicPath = `${this.#mountPath}${path.slice(prefix.length)}`;
    const rest = `${parsed.search}${parsed.hash}`;
    return absolute ? `${this.#publicOrigin}${publicPath}${rest}` : `${publicPath === '' ? '/' : publicPath}${rest}`;
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

  /**
   * Rewrites each URI reference of a Link field value (RFC 8288), such as
   * `<http://upstream/orders?page=2>; rel="next"`, and each `anchor`
   * parameter. An anchor with a backslash escape is unchanged.
   */
  rewriteLinks(value: string): string {
    return value.replace(LINK_URL, (match: string, target?: string, anchorName?: string, anchor?: string) => {
      if (target !== undefined) {
        return `<${this.rewrite(target)}>`;
      }
      if (anchorName !== undefined && anchor !== undefined) {
        return `${anchorName}"${this.rewrite(anchor)}"`;
      }
      return match;
    });
  }
}
