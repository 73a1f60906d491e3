import { UserAgent, formEndingWith } from './user-agent.js';

/** Submits the registration page of the server at `baseUrl` with `fields`, as a browser would. */
export async function register(baseUrl: string, fields: Record<string, string>): Promise<{ status: number; html: string }> {
  const agent = new UserAgent(baseUrl);
  const page = await agent.fetch('/register');
  const form = formEndingWith(await page.text(), '/register');
  const { response } = await agent.submit(form, fields);
  return { status: response.status, html: await response.text() };
}

/** Returns the error messages that a form page shows for `field`. */
export function errorFor(html: string, field: string): string[] {
  return [...html.matchAll(new RegExp(`<p class="error" id="${field}-error">([^<]*)</p>`, 'g'))].map((match) => match[1] ?? '');
}
