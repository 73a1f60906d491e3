const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for an HTML element body or a quoted attribute value. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (character) => HTML_ESCAPES[character] ?? character);
}

/** A fragment of HTML that is already escaped. */
export class SafeHtml {
  readonly value: string;

  constructor(value: string) {
    this.value = value;
  }

  toString(): string {
    return this.value;
  }
}

/**
 * Tagged template that escapes every interpolated value unless it is SafeHtml
 * (or an array of SafeHtml), so a page cannot forget to escape user input.
 */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let result = strings[0] ?? '';

  values.forEach((value, index) => {
    const parts = Array.isArray(value) ? value : [value];
    result += parts.map((part) => (part instanceof SafeHtml ? part.value : escapeHtml(part ?? ''))).join('');
    result += strings[index + 1] ?? '';
  });

  return new SafeHtml(result);
}
