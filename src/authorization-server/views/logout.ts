import { SafeHtml, html } from './html.js';
import { layout } from './layout.js';

/**
 * Renders the sign-out confirmation. `form` is oidc-provider's form element
 * (with its own CSRF value); the buttons submit it through the `form`
 * attribute, so the page needs no script.
 */
export function renderLogoutPage(form: string): string {
  const content = html`${new SafeHtml(form)}
<p>Sign out of Portcullis on this browser?</p>
<div class="actions">
<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>
<button type="submit" form="op.logoutForm" class="secondary">Stay signed in</button>
</div>`;
  return layout('Sign out', content);
}

/** Renders the page shown after signing out when the client gave no redirect URI. */
export function renderLoggedOutPage(): string {
  return layout('Signed out', html`<p class="success" role="status">You are signed out of Portcullis on this browser.</p>`);
}

/** Renders the page shown after the sign-out confirmation when the user chose to stay signed in. */
export function renderStillSignedInPage(): string {
  return layout('Still signed in', html`<p role="status">You are still signed in to Portcullis on this browser.</p>`);
}
