import { html } from './html.js';
import { layout } from './layout.js';

const SCOPE_DESCRIPTIONS: Record<string, string> = {
  openid: 'Confirm who you are',
  profile: 'See your username',
  email: 'See your email address',
  offline_access: 'Stay signed in (refresh tokens)',
  'orders:read': 'Read your orders',
  'orders:write': 'Create and delete your orders',
  admin: 'Administer all orders',
};

export interface ConsentPage {
  uid: string;
  clientName: string;
  username: string;
  csrfToken: string;
  scopes: string[];
  /** Requested scopes that the account may not be granted. */
  withheldScopes: string[];
}

function describeScope(scope: string): string {
  return SCOPE_DESCRIPTIONS[scope] ?? scope;
}

/** Renders the consent form that lists the scopes a client asks for. */
export function renderConsentPage(page: ConsentPage): string {
  const scopes = page.scopes.map((scope) => html`<li>${describeScope(scope)} <code>${scope}</code></li>`);
  const withheld =
    page.withheldScopes.length === 0
      ? html``
      : html`<p class="hint">Not granted, because your account lacks the role: ${page.withheldScopes.join(', ')}.</p>`;

  const content = html`<p>Signed in as <strong>${page.username}</strong>.</p>
<p><strong>${page.clientName}</strong> asks to:</p>
<ul class="scopes">${scopes}</ul>
${withheld}
<div class="actions">
<form method="post" action="/interaction/${page.uid}/confirm">
<input type="hidden" name="_csrf" value="${page.csrfToken}">
<button type="submit">Allow</button>
</form>
<form method="post" action="/interaction/${page.uid}/abort">
<input type="hidden" name="_csrf" value="${page.csrfToken}">
<button type="submit" class="secondary">Deny</button>
</form>
</div>`;

  return layout('Authorize access', content);
}
