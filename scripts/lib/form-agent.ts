/**
 * A minimal browser stand-in for scripts and tests: keeps cookies per path, follows no
 * redirects on its own, and submits the forms of Portcullis's pages.
 */

interface StoredCookie {
  name: string;
  value: string;
  path: string;
}

export interface PageForm {
  action: string;
  fields: Record<string, string>;
}

export class UserAgent {
  readonly #cookies = new Map<string, StoredCookie>();
  readonly #origin: string;
  readonly #extraHeaders: Record<string, string>;

  /** `extraHeaders` go with every request, for example a forwarded client address. */
  constructor(origin: string, extraHeaders: Record<string, string> = {}) {
    this.#origin = origin;
    this.#extraHeaders = extraHeaders;
  }

  async fetch(target: string, init: RequestInit = {}): Promise<Response> {
    const url = new URL(target, this.#origin);
    const headers = new Headers(init.headers);
    for (const [name, value] of Object.entries(this.#extraHeaders)) {
      headers.set(name, value);
    }
    const cookie = this.#cookieHeader(url);
    if (cookie !== '') {
      headers.set('cookie', cookie);
    }

    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      this.#store(line);
    }
    return response;
  }

  /**
   * Follows redirects within the server until one leaves it, reaches
   * `stopAt` (a client's redirect URI), or a page is returned.
   */
  async follow(target: string, stopAt?: string): Promise<{ response: Response; url: string }> {
    let url = new URL(target, this.#origin).href;
    for (let hops = 0; hops < 10; hops += 1) {
      const response = await this.fetch(url);
      const location = response.headers.get('location');
      if (response.status < 300 || response.status >= 400 || location === null) {
        return { response, url };
      }
      const next = new URL(location, url);
      if (next.origin !== this.#origin || (stopAt !== undefined && next.href.startsWith(stopAt))) {
        return { response, url: next.href };
      }
      url = next.href;
    }
    throw new Error('too many redirects');
  }

  /** Submits a form as application/x-www-form-urlencoded and follows the redirects that come back. */
  async submit(form: PageForm, values: Record<string, string> = {}, stopAt?: string): Promise<{ response: Response; url: string }> {
    const body = new URLSearchParams({ ...form.fields, ...values });
    const response = await this.fetch(form.action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location !== null) {
      const next = new URL(location, this.#origin);
      if (next.origin !== this.#origin || (stopAt !== undefined && next.href.startsWith(stopAt))) {
        return { response, url: next.href };
      }
      return this.follow(next.href, stopAt);
    }
    return { response, url: new URL(form.action, this.#origin).href };
  }

  cookieNames(): string[] {
    return [...this.#cookies.values()].map((cookie) => cookie.name);
  }

  #cookieHeader(url: URL): string {
    return [...this.#cookies.values()]
      .filter((cookie) => url.pathname.startsWith(cookie.path))
      .map((cookie) => `${cookie.name}=${cookie.value}`)
      .join('; ');
  }

  #store(line: string): void {
    const [pair = '', ...attributes] = line.split(';').map((part) => part.trim());
    const separator = pair.indexOf('=');
    const name = pair.slice(0, separator);
    const value = pair.slice(separator + 1);
    let path = '/';
    let expired = value === '';

    for (const attribute of attributes) {
      const [key = '', attributeValue = ''] = attribute.split('=');
      if (key.toLowerCase() === 'path') {
        path = attributeValue;
      }
      if (key.toLowerCase() === 'max-age' && Number(attributeValue) <= 0) {
        expired = true;
      }
      if (key.toLowerCase() === 'expires' && Date.parse(attributeValue) < Date.now()) {
        expired = true;
      }
    }

    const key = `${name};${path}`;
    if (expired) {
      this.#cookies.delete(key);
    } else {
      this.#cookies.set(key, { name, value, path });
    }
  }
}

function decodeEntities(value: string): string {
  return value
    .replaceAll('&quot;', '"')
    .replaceAll('&#39;', "'")
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&amp;', '&');
}

/** Extracts the forms of a page, with their hidden and pre-filled fields. */
export function parseForms(html: string): PageForm[] {
  const forms: PageForm[] = [];
  for (const match of html.matchAll(/<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/g)) {
    const fields: Record<string, string> = {};
    for (const input of (match[2] ?? '').matchAll(/<input[^>]*>/g)) {
      const name = /name="([^"]+)"/.exec(input[0])?.[1];
      const value = /value="([^"]*)"/.exec(input[0])?.[1] ?? '';
      if (name !== undefined) {
        fields[name] = decodeEntities(value);
      }
    }
    forms.push({ action: decodeEntities(match[1] ?? ''), fields });
  }
  return forms;
}

/** Returns the form whose action ends with `suffix`, or throws with the page for context. */
export function formEndingWith(html: string, suffix: string): PageForm {
  const form = parseForms(html).find((candidate) => candidate.action.endsWith(suffix));
  if (form === undefined) {
    throw new Error(`no form with action ending in ${suffix} on page:\n${html.slice(0, 2000)}`);
  }
  return form;
}
