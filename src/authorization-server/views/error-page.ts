import { html } from './html.js';
import { layout } from './layout.js';

/**
 * Renders the authorization server's error page, shown instead of
 * redirecting when the client or its redirect URI cannot be trusted.
 */
export function renderErrorPage(error: string, description: string | undefined): string {
  const content = html`<p class="notice"><strong>${error}</strong></p>
<p>${description ?? 'The request could not be completed.'}</p>
<p class="hint">Return to the application and start again. If this keeps happening, contact its administrator.</p>`;
  return layout('Request rejected', content);
}
